"""Fixtures for tests against the real RabbitMQ on this machine.

`broker` is the URL once the broker answers; unreachable -> skip with the reason, except
under CI=true, where it fails: CI must not pass by skipping the broker tests.
`sandbox` gives each test a partner of its own (mra.t<hex>.work, .dead, .retry.0), so
runs repeat and never see each other's messages; its queues are deleted afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pika
import pika.exceptions
import pytest

from exchange.config import ExchangeConfig, load_config
from exchange.service.topology import Topology, build_topology, declare

BROKER_URL = (
    os.environ.get("EXCHANGE_TEST_AMQP_URL")
    or os.environ.get("EXCHANGE_AMQP_URL")
    or "amqp://guest:guest@127.0.0.1:5672/"
)


def connect(url: str) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.socket_timeout = 3
    params.connection_attempts = 1
    return pika.BlockingConnection(params)


@pytest.fixture(scope="session")
def broker() -> str:
    """The broker URL, once it answers."""
    try:
        connect(BROKER_URL).close()
    except pika.exceptions.AMQPError as e:
        reason = f"RabbitMQ not reachable at {BROKER_URL}: {type(e).__name__} {e}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: the broker tests must run)")
        pytest.skip(reason)
    return BROKER_URL


@dataclass
class Sandbox:
    url: str
    partner: str
    config_path: Path
    config: ExchangeConfig
    audit_url: str
    prefix: str
    """Test-unique message id prefix."""

    def channel(self) -> Any:
        conn = connect(self.url)
        return conn.channel()


AGREEMENT = """
[partners.{p}]
name = "test partner {p}"
format = "adapters.bri:format"
families = ["ccc"]
transport = "stream"
retry_seconds = [600]
"""


def drain(url: str, queue: str) -> list[tuple[Any, bytes]]:
    """Every message of a queue, in order, taken off it: (properties, body)."""
    conn = connect(url)
    try:
        ch = conn.channel()
        out: list[tuple[Any, bytes]] = []
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append((props, cast(bytes, body)))
    finally:
        conn.close()


@pytest.fixture
def sandbox(broker: str, tmp_path: Path) -> Iterator[Sandbox]:
    partner = f"t{secrets.token_hex(4)}"
    path = tmp_path / "agreements.toml"
    path.write_text(AGREEMENT.format(p=partner), encoding="utf-8")
    config = load_config(path)
    topology = build_topology(config, [partner])
    mine = f"mra.{partner}."
    own = [q for q in topology.queues if q.name.startswith(mine)]
    # Only the shared exchanges and this partner's queues: the shared queues are left as
    # they are (another run, or a developer's service, may be using them).
    conn = connect(broker)
    try:
        declare(
            conn.channel(),
            Topology(
                topology.exchanges,
                tuple(own),
                tuple(b for b in topology.bindings if b.queue.startswith(mine)),
            ),
        )
    finally:
        conn.close()
    yield Sandbox(
        broker,
        partner,
        path,
        config,
        f"sqlite:///{tmp_path / 'audit.db'}",
        f"{partner}-{secrets.token_hex(3)}",
    )
    conn = connect(broker)
    try:
        ch = conn.channel()
        for q in own:
            ch.queue_delete(q.name)
    finally:
        conn.close()
