"""Cluster settings without a broker: several brokers in EXCHANGE_AMQP_URL, replicated queues."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.config import load_config
from exchange.service.settings import broker_urls, first_reachable, replicas_for, with_user, with_vhost
from exchange.service.topology import FEED_STREAM, INTAKE_QUEUE, build_topology, retry_queue

ROOT = Path(__file__).resolve().parents[2]
THREE = "amqp://guest:guest@h1:5681/,amqp://guest:guest@h2:5682/, amqp://guest:guest@h3:5683/"


def test_several_brokers_keep_their_form_through_vhost_and_user() -> None:
    assert broker_urls(THREE) == [
        "amqp://guest:guest@h1:5681/",
        "amqp://guest:guest@h2:5682/",
        "amqp://guest:guest@h3:5683/",
    ]
    assert with_vhost(THREE, "mra-kr").split(",") == [
        "amqp://guest:guest@h1:5681/mra-kr",
        "amqp://guest:guest@h2:5682/mra-kr",
        "amqp://guest:guest@h3:5683/mra-kr",
    ]
    assert with_user(THREE, "kr", "p@ss").split(",")[2] == "amqp://kr:p%40ss@h3:5683/"
    with pytest.raises(ValueError, match="no broker"):
        broker_urls(" , ")


def test_the_first_broker_accepting_connections_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
    try:
        up = f"amqp://guest:guest@127.0.0.1:{listening.getsockname()[1]}/"
        down = f"amqp://guest:guest@127.0.0.1:{closed.getsockname()[1]}/"
        assert first_reachable(f"{down},{up}") == up
        assert first_reachable(f"{down},{down}") == down  # none: the first, so its error names it
    finally:
        listening.close()
        closed.close()


def test_replicas_follow_the_brokers_named_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXCHANGE_AMQP_REPLICAS", raising=False)
    assert replicas_for("amqp://guest:guest@h1:5672/") is None
    assert replicas_for(THREE) == 3
    monkeypatch.setenv("EXCHANGE_AMQP_REPLICAS", "5")
    assert replicas_for("amqp://guest:guest@h1:5672/") == 5


def test_on_a_cluster_every_queue_and_the_feed_are_replicated() -> None:
    cfg = load_config(ROOT / "adapters" / "agreements.toml")
    single = {q.name: q.arguments for q in build_topology(cfg).queues}
    cluster = {q.name: q.arguments for q in build_topology(cfg, replicas=3).queues}
    assert "x-quorum-initial-group-size" not in single[INTAKE_QUEUE]  # one node: unchanged
    assert cluster[INTAKE_QUEUE]["x-quorum-initial-group-size"] == 3
    assert cluster[FEED_STREAM]["x-initial-cluster-size"] == 3
    retry = cluster[retry_queue("kr", 0)]
    assert retry["x-queue-type"] == "quorum" and retry["x-dead-letter-strategy"] == "at-least-once"
    assert "x-queue-type" not in single[retry_queue("kr", 0)]
    for name, args in cluster.items():
        assert args.get("x-quorum-initial-group-size") == 3 or args.get("x-initial-cluster-size") == 3, name


def test_topology_export_writes_cluster_ready_definitions(tmp_path: Path) -> None:
    out = tmp_path / "definitions.json"
    subprocess.run(
        [sys.executable, "-m", "exchange.cli", "topology", "export", "--replicas", "3", "--out", str(out)],
        check=True,
        cwd=ROOT,
    )
    queues = {q["name"]: q["arguments"] for q in json.loads(out.read_text())["queues"]}
    assert queues[INTAKE_QUEUE]["x-quorum-initial-group-size"] == 3
    assert queues[FEED_STREAM]["x-initial-cluster-size"] == 3
