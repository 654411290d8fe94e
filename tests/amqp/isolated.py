"""An isolated broker world per test: its own vhosts, partner user, config and audit
store, so tests never see each other's messages (nor a developer's running service)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
import pytest

from exchange.config import load_config
from exchange.registry import partner_format
from exchange.service.settings import with_user, with_vhost
from exchange.transports.amqp.provision import PartnerVhost, provision
from exchange.transports.amqp.simulator import Mode, PartnerSimulator

BROKER = "amqp://guest:guest@localhost:5672/"


def broker_reachable() -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(BROKER)).close()
        return True
    except pika.exceptions.AMQPError:
        return False


def require_broker() -> None:
    if broker_reachable():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("RabbitMQ is not reachable at 127.0.0.1:5672 and CI=true: broker tests must run")
    pytest.skip("RabbitMQ is not reachable at 127.0.0.1:5672 (start it with `rabbitmq-server -detached`)")


def ctl(*args: str, check: bool = True) -> str:
    out = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120)
    if check and out.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {out.stderr}")
    return out.stdout


@dataclass
class World:
    root: Path
    suffix: str
    vhost: str
    url: str
    config_path: Path
    audit_url: str
    kr: PartnerVhost
    kr_password: str
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra_configs: list[Path] = field(default_factory=list)
    """Agreements a test ran beside the world's own: their queues are deleted at its end, so
    the next test can declare the same names with its own arguments (a retry TTL)."""

    def channel(self) -> Any:
        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        return conn, conn.channel()

    def depth(self, queue: str) -> int:
        conn, ch = self.channel()
        try:
            return int(ch.queue_declare(queue, passive=True).method.message_count)
        finally:
            conn.close()

    def drain(self, queue: str, timeout: float = 1.0) -> list[tuple[Any, bytes]]:
        """Every message now in a queue (acked: taken out)."""
        conn, ch = self.channel()
        got: list[tuple[Any, bytes]] = []
        try:
            ch.basic_qos(prefetch_count=500)
            for method, props, body in ch.consume(queue, inactivity_timeout=timeout):
                if method is None:
                    break
                got.append((props, body))
                ch.basic_ack(method.delivery_tag)
            ch.cancel()
        finally:
            conn.close()
        return got

    def start_service(
        self, *extra: str, env: dict[str, str] | None = None, http: str | None = None
    ) -> subprocess.Popen[bytes]:
        """`exchange run` in the world; workers only unless `http` (HOST:PORT) is given."""
        log = (self.root / f"run-{len(self.processes)}.log").open("wb")
        front = ["--http", http] if http else ["--no-http"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "exchange.cli", "run", *front, *extra],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(proc)
        self.wait_for_consumers("mra.intake", count=sum(1 for p in self.processes if p.poll() is None))
        return proc

    def wait_for_consumers(self, queue: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                conn, ch = self.channel()
                try:
                    if ch.queue_declare(queue, passive=True).method.consumer_count >= count:
                        return
                finally:
                    conn.close()
            except pika.exceptions.AMQPError:
                pass
            time.sleep(0.2)
        logs = "\n".join(p.read_text()[-3000:] for p in self.root.glob("run-*.log"))
        raise AssertionError(f"no {count} consumer(s) on {queue} within {timeout} s\n{logs}")

    def simulator(self, mode: Mode = Mode.ACK) -> tuple[PartnerSimulator, threading.Thread]:
        url = with_user(with_vhost(self.url, self.kr.vhost), self.kr.user, self.kr_password)
        cfg = load_config(self.config_path)
        sim = PartnerSimulator(url, self.kr, partner_format(cfg.partners["kr"]), mode)
        thread = threading.Thread(target=sim.run, daemon=True)
        thread.start()
        return sim, thread

    def log_text(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.root.glob("run-*.log")))


CONFIG = """
source = "adapters.domestic:source"

[partners.kr]
name = "Korea (test)"
format = "adapters.kr:format"
families = ["ccc", "pt"]
transport = "amqp"
retry_seconds = [1, 1]
[partners.kr.scope.ccc]
sectors = ["ee"]
[partners.kr.options]
vhost = "{kr_vhost}"
user = "{kr_user}"
{bri}
"""

BRI = """
[partners.bri]
name = "Belt and Road (test)"
format = "adapters.bri:format"
families = ["ccc", "glp", "pt"]
transport = "stream"
public_only = true
"""


@dataclass(frozen=True)
class Vhosts:
    suffix: str
    vhost: str
    kr_vhost: str
    kr_user: str
    kr_password: str


@pytest.fixture(scope="session")
def vhosts() -> Iterator[Vhosts]:
    """One pair of vhosts for the session (rabbitmqctl is slow); each test purges them."""
    require_broker()
    suffix = uuid.uuid4().hex[:8]
    v = Vhosts(suffix, f"mra-test-{suffix}", f"mra-test-kr-{suffix}", f"kr-{suffix}", uuid.uuid4().hex)
    ctl("add_vhost", v.vhost)
    ctl("set_permissions", "-p", v.vhost, "guest", ".*", ".*", ".*")
    try:
        yield v
    finally:
        ctl("delete_vhost", v.vhost, check=False)
        ctl("delete_vhost", v.kr_vhost, check=False)
        ctl("delete_user", v.kr_user, check=False)


@pytest.fixture
def world(tmp_path: Path, vhosts: Vhosts) -> Iterator[World]:
    require_broker()
    config_path = tmp_path / "agreements.toml"
    config_path.write_text(
        CONFIG.format(kr_vhost=vhosts.kr_vhost, kr_user=vhosts.kr_user, bri=BRI if _bri_available() else ""),
        encoding="utf-8",
    )
    cfg = load_config(config_path)
    kr = PartnerVhost.of(cfg.partners["kr"])
    if not _provisioned.get(kr.vhost):
        provision(kr, vhosts.kr_password, "guest")
        _provisioned[kr.vhost] = True
    url = with_vhost(BROKER, vhosts.vhost)
    audit_url = f"sqlite:///{tmp_path / 'audit.db'}"
    env = {
        **os.environ,
        "EXCHANGE_CONFIG": str(config_path),
        "EXCHANGE_AUDIT_URL": audit_url,
        "EXCHANGE_AMQP_URL": url,
        "EXCHANGE_AMQP_RECEIPT_TIMEOUT_S": "2",
        "EXCHANGE_AMQP_RECONNECT_MAX_S": "2",
    }
    w = World(tmp_path, vhosts.suffix, vhosts.vhost, url, config_path, audit_url, kr, vhosts.kr_password, env)
    reset_topology(w, cfg)
    try:
        yield w
    finally:
        for proc in w.processes:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for extra in w.extra_configs:
            delete_queues(w, load_config(extra))


_provisioned: dict[str, bool] = {}


def delete_queues(w: World, cfg: Any) -> None:
    """Delete the queues an agreement declares in the world's vhost (missing ones are fine)."""
    from exchange.service.topology import build_topology

    conn, ch = w.channel()
    try:
        for q in build_topology(cfg).queues:
            ch.queue_delete(q.name)
    finally:
        conn.close()


def reset_topology(w: World, cfg: Any) -> None:
    """Declare everything afresh: a clean broker per test. Queues are deleted, not purged:
    the vhost lives for the session and another test's agreement may have declared the same
    queue with other arguments (a retry queue's TTL), which a redeclare would refuse."""
    from exchange.service.topology import build_topology, declare

    topology = build_topology(cfg)
    conn, ch = w.channel()
    try:
        for q in topology.queues:
            ch.queue_delete(q.name)  # deleting a queue that is not there is fine
        declare(ch, topology)
    finally:
        conn.close()
    conn = pika.BlockingConnection(pika.URLParameters(with_vhost(BROKER, w.kr.vhost)))
    try:
        ch = conn.channel()
        w.kr.declare(ch)
        for q in (w.kr.inbound_queue, w.kr.reply_queue, w.kr.records_queue):
            ch.queue_purge(q)
    finally:
        conn.close()


def _bri_available() -> bool:
    try:
        import adapters.bri  # noqa: F401
    except Exception:
        return False
    return True


def domestic_messages(prefix: str, count: int) -> list[tuple[str, bytes]]:
    """`count` distinct valid CCC records (E&E, so kr takes them), as the domestic side sends."""
    sample = json.loads(
        Path(__file__)
        .resolve()
        .parents[2]
        .joinpath("samples", "ccc.jsonl")
        .read_text("utf-8")
        .splitlines()[0]
    )
    out = []
    for i in range(count):
        record = dict(sample)
        record["certNo"] = f"2019010907{i:06d}"
        out.append((f"{prefix}-{i}", json.dumps(record, ensure_ascii=False).encode()))
    return out


def publish_domestic(
    url: str, messages: list[tuple[str, bytes]], kind: str = "ccc", headers: dict[str, Any] | None = None
) -> int:
    from exchange.service.publish import Outgoing, publish_many

    report = publish_many(
        url,
        (
            Outgoing(
                "cn.domestic.in",
                kind,
                body,
                pika.BasicProperties(message_id=mid, type=kind, delivery_mode=2, headers=headers or {}),
            )
            for mid, body in messages
        ),
    )
    assert not report.failed, report.failed
    return report.confirmed
