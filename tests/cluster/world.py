"""One scenario's world on the cluster: its own vhost and kr partner vhost (provisioned on the
cluster's node 1), an agreements file (kr over AMQP, bri's feed), a PostgreSQL audit schema,
the kr simulator, two `exchange run` workers on different nodes, and a publisher that keeps
publishing the domestic records whichever node is down."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pika
import pika.exceptions

from exchange.config import load_config
from exchange.registry import partner_format
from exchange.service.broker import BrokerUnavailable
from exchange.service.publish import Outgoing, publish_many
from exchange.service.settings import with_user, with_vhost
from exchange.transports.amqp.provision import PartnerVhost, provision
from exchange.transports.amqp.simulator import Mode, PartnerSimulator
from tests.amqp.isolated import BRI, CONFIG, domestic_messages
from tests.cluster.harness import LocalCluster


def rotated(urls: list[str], first: int) -> str:
    """The comma-separated broker list starting at node `first` (0-based)."""
    return ",".join(urls[first:] + urls[:first])


@dataclass
class ClusterWorld:
    cluster: LocalCluster
    root: Path
    audit_url: str
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    simulator: PartnerSimulator | None = None
    published: int = 0
    """Confirmed so far (a fault waits for a share of the load to be under way)."""
    _sim_thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.vhost = f"mra-c-{self.suffix}"
        self.kr_vhost = f"mra-c-kr-{self.suffix}"
        self.kr_user = f"kr-{self.suffix}"
        self.kr_password = uuid.uuid4().hex
        self.config_path = self.root / "agreements.toml"
        self.config_path.write_text(
            CONFIG.format(kr_vhost=self.kr_vhost, kr_user=self.kr_user, bri=BRI), encoding="utf-8"
        )
        self.config = load_config(self.config_path)
        self.kr = PartnerVhost.of(self.config.partners["kr"])
        self.urls = [with_vhost(u, self.vhost) for u in self.cluster.urls]

    # -- set-up and tear-down ------------------------------------------------------------

    def provision(self) -> None:
        self.cluster.ctl(1, "add_vhost", self.vhost)
        self.cluster.ctl(1, "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        old = os.environ.get("EXCHANGE_AMQP_NODE")
        os.environ["EXCHANGE_AMQP_NODE"] = self.cluster.node(1)  # provision() on OUR node 1
        try:
            provision(self.kr, self.kr_password, "guest")
        finally:
            if old is None:
                os.environ.pop("EXCHANGE_AMQP_NODE", None)
            else:
                os.environ["EXCHANGE_AMQP_NODE"] = old

    def env(self, first_node: int) -> dict[str, str]:
        return {
            **os.environ,
            "EXCHANGE_CONFIG": str(self.config_path),
            "EXCHANGE_AUDIT_URL": self.audit_url,
            "EXCHANGE_AMQP_URL": rotated(self.urls, first_node),
            "EXCHANGE_AMQP_REPLICAS": "3",
            "EXCHANGE_AMQP_STREAM_URL": rotated(self.cluster.stream_urls(self.vhost), first_node),
            "EXCHANGE_AMQP_RECEIPT_TIMEOUT_S": "45",
            "EXCHANGE_AMQP_RECONNECT_MAX_S": "2",
            "EXCHANGE_AMQP_HEARTBEAT_S": "10",
        }

    def start_workers(self, nodes: tuple[int, ...] = (0, 1)) -> None:
        """`exchange run` once per node given (0-based), each preferring its own node; one
        after the other (two creating the same PostgreSQL tables at once race in the catalogue)."""
        for started, n in enumerate(nodes, 1):
            log = (self.root / f"run-{n}.log").open("wb")
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "exchange.cli", "run", "--no-http"],
                    env=self.env(n),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            self.wait_for_consumers("mra.intake", started)

    def start_simulator(self) -> None:
        url = with_user(
            with_vhost(rotated(self.cluster.urls, 2), self.kr.vhost), self.kr.user, self.kr_password
        )
        self.simulator = PartnerSimulator(
            url, self.kr, partner_format(self.config.partners["kr"]), Mode.ACK, confirm_receipts=True
        )
        self._sim_thread = threading.Thread(target=self.simulator.run, daemon=True)
        self._sim_thread.start()

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.simulator is not None:
            self.simulator.stop()
        if self._sim_thread is not None:
            self._sim_thread.join(timeout=10)
        for vhost in (self.vhost, self.kr_vhost):
            with contextlib.suppress(RuntimeError):
                self.cluster.ctl(1, "delete_vhost", vhost)
        with contextlib.suppress(RuntimeError):
            self.cluster.ctl(1, "delete_user", self.kr_user)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.root.glob("run-*.log")))

    # -- the broker, through whichever node answers ----------------------------------------

    def connect(self, vhost: str | None = None) -> pika.BlockingConnection:
        urls = self.urls if vhost is None else [with_vhost(u, vhost) for u in self.cluster.urls]
        params = []
        for u in urls:
            p = pika.URLParameters(u)
            p.socket_timeout = 3
            p.blocked_connection_timeout = 10
            params.append(p)
        return pika.BlockingConnection(params)

    def queue_info(self, queue: str, vhost: str | None = None) -> tuple[int, int]:
        conn = self.connect(vhost)
        try:
            ok = conn.channel().queue_declare(queue, passive=True).method
            return int(ok.message_count), int(ok.consumer_count)
        finally:
            if conn.is_open:
                conn.close()

    def wait_for_consumers(self, queue: str, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.queue_info(queue)[1] >= count:
                    return
            except pika.exceptions.AMQPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"no {count} consumers on {queue} within {timeout} s\n{self.log_text()}")

    # -- the domestic side ------------------------------------------------------------------

    def messages(self, count: int, scenario: int = 1) -> list[tuple[str, bytes]]:
        """The records of one scenario: ids and certificate numbers of its own."""
        return domestic_messages(f"c{self.suffix}s{scenario}", count, series=scenario)

    def publish(self, messages: list[tuple[str, bytes]], chunk: int = 250, timeout: float = 240) -> int:
        """Publish every message with confirms; what a lost node left unconfirmed goes again
        (through the next node): at-least-once from the domestic side, as a real one would."""
        deadline = time.monotonic() + timeout
        node = 0
        for start in range(0, len(messages), chunk):
            todo = messages[start : start + chunk]
            while todo:
                if time.monotonic() > deadline:
                    raise AssertionError(f"could not publish within {timeout} s")
                url = self.urls[node % 3]
                try:
                    report = publish_many(url, (_outgoing(mid, body) for mid, body in todo))
                except (BrokerUnavailable, pika.exceptions.AMQPError, OSError):
                    node += 1
                    time.sleep(0.3)
                    continue
                failed = {mid for mid, _ in report.failed}
                self.published += len(todo) - len(failed)
                todo = [(mid, body) for mid, body in todo if mid in failed]
                if todo:
                    node += 1
                    time.sleep(0.3)
        return len(messages)

    def read_feed(self, timeout: float = 120) -> list[str | None]:
        """The work message id (correlation-id: the message-id is the credential's) of every
        message on bri.feed, from its first offset to its tail."""
        conn = self.connect()
        ids: list[str | None] = []
        try:
            ch = conn.channel()
            ch.basic_qos(prefetch_count=1000)
            deadline = time.monotonic() + timeout
            for method, props, _body in ch.consume(
                "bri.feed", arguments={"x-stream-offset": "first"}, inactivity_timeout=10
            ):
                if method is None:
                    break
                ids.append(props.correlation_id or props.message_id)
                ch.basic_ack(method.delivery_tag)
                if time.monotonic() > deadline:
                    raise AssertionError(f"reading bri.feed took longer than {timeout} s")
            # cancelling nacks what the client buffered, which a stream refuses: close instead
        finally:
            if conn.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    conn.close()
        return ids


def _outgoing(mid: str, body: bytes) -> Outgoing:
    return Outgoing(
        "cn.domestic.in", "ccc", body, pika.BasicProperties(message_id=mid, type="ccc", delivery_mode=2)
    )


def iter_queues(world: ClusterWorld) -> Iterator[tuple[str | None, str]]:
    """(vhost or None for the service's, queue) of every queue that must be empty at the end."""
    from exchange.service.topology import build_topology

    for q in build_topology(world.config, replicas=3).queues:
        if q.arguments.get("x-queue-type") != "stream":
            yield None, q.name
    for q in (world.kr.inbound_queue, world.kr.reply_queue, world.kr.records_queue):
        yield world.kr.vhost, q


def leftover(world: ClusterWorld) -> dict[str, int]:
    out: dict[str, int] = {}
    for vhost, q in iter_queues(world):
        depth = world.queue_info(q, vhost)[0]
        if depth:
            out[q] = depth
    return out
