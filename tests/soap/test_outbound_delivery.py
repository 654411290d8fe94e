"""SoapPartnerDelivery: the work queue worker for SOAP partners, against the simulated EU
partner over real HTTP, with a fake channel and I/O loop (no broker needed): the SOAP call
runs in the pool, its outcome comes back through add_callback_threadsafe, every transition
is audited, and the work message is settled only once the outcome is durable."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pika.spec import Basic, BasicProperties

from exchange.audit import AuditStore, open_store
from exchange.config import Agreement
from exchange.service.topology import DLX, RETRY
from exchange.signing import KeyPairFiles
from exchange.state import State, StateStore
from exchange.transports.soap_push.delivery import SoapPartnerDelivery
from exchange.transports.soap_push.simulator import Fault
from tests.soap.test_outbound_support import DOCUMENT, Rig, start_rig


class Loop:
    """pika's ioloop, reduced to a queue of callbacks the test runs on its own thread."""

    def __init__(self) -> None:
        self.callbacks: queue.Queue[Callable[[], None]] = queue.Queue()

    def call_later(self, _delay: float, fn: Callable[[], None]) -> Callable[[], None]:
        self.callbacks.put(fn)
        return fn

    def remove_timeout(self, _handle: object) -> None:
        """Running a removed timer later is harmless here (an empty buffer flushes nothing)."""

    def add_callback_threadsafe(self, fn: Callable[[], None]) -> None:
        self.callbacks.put(fn)

    def run_until(self, done: Callable[[], bool]) -> None:
        while not done():
            self.callbacks.get(timeout=20)()


@dataclass
class Channel:
    loop: Loop
    acked: list[int] = field(default_factory=list)
    nacked: list[int] = field(default_factory=list)
    is_open: bool = True

    @property
    def connection(self) -> Any:
        return self

    @property
    def ioloop(self) -> Loop:
        return self.loop

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        self.acked.append(tag)

    def basic_nack(self, tag: int, requeue: bool = True) -> None:
        self.nacked.append(tag)

    def basic_reject(self, tag: int, requeue: bool = False) -> None:
        self.nacked.append(tag)


@dataclass
class Publisher:
    """Confirms each publish on a later loop turn, as the broker would."""

    loop: Loop
    published: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    hold: bool = False
    """Keep confirmations back until `release()`: a slow broker."""
    unconfirmed: list[Callable[[], None]] = field(default_factory=list)

    def publish(self, exchange: str, key: str, body: bytes, props: BasicProperties, done: Any) -> None:
        self.published.append((exchange, key, dict(props.headers or {})))
        confirm = lambda: done(True, None)  # noqa: E731
        if self.hold:
            self.unconfirmed.append(confirm)
        else:
            self.loop.add_callback_threadsafe(confirm)

    def release(self) -> None:
        self.hold = False
        for confirm in self.unconfirmed:
            self.loop.add_callback_threadsafe(confirm)
        self.unconfirmed.clear()


@dataclass
class Harness:
    rig: Rig
    worker: SoapPartnerDelivery
    loop: Loop
    channel: Channel
    publisher: Publisher
    audit: AuditStore
    state: StateStore
    tags: int = 0

    def deliver(self, mid: str, **headers: Any) -> int:
        self.tags += 1
        props = BasicProperties(
            message_id=mid, headers={"record-id": f"rec-{mid}", "sha256": "0" * 64, **headers}
        )
        self.worker._on_message(None, Basic.Deliver(delivery_tag=self.tags), props, DOCUMENT)
        return self.tags

    def settle(self, *tags: int) -> None:
        self.loop.run_until(lambda: all(t in self.channel.acked or t in self.channel.nacked for t in tags))

    def trail(self, mid: str) -> list[str]:
        self.audit.flush()
        return [str(e.event) for e in self.audit.trace(mid)]


@pytest.fixture
def harness(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> Iterator[Harness]:
    rig = start_rig(tmp_path, our_keys, partner_keys["eu"], timeout_s=60, slow_s=60)  # woken by the test
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    audit, state, loop = open_store(url), StateStore(url), Loop()
    channel, publisher = Channel(loop), Publisher(loop)
    agreement = Agreement(
        partner="eu", name="EU", format="adapters.eu:format", families=frozenset({"ccc"}), transport="soap",
        retry_seconds=(10, 60),
    )  # fmt: skip
    worker = SoapPartnerDelivery(
        client=rig.client, agreement=agreement, name="deliver-eu", queue="mra.eu.work", channel=channel,
        publisher=publisher, audit=audit, state=state, prefetch=10, batch_size=1, linger_ms=5,
    )  # fmt: skip
    yield Harness(rig, worker, loop, channel, publisher, audit, state)
    worker.close()
    audit.close()
    rig.close()


def test_acknowledged(harness: Harness) -> None:
    tags = [harness.deliver(f"m-{i}") for i in range(3)]
    harness.settle(*tags)
    assert sorted(harness.channel.acked) == tags and harness.channel.nacked == []
    for i in range(3):
        assert harness.trail(f"m-{i}") == ["SEND_IN_PROGRESS", "WAITING_FOR_RECEIPT", "ACKNOWLEDGED"]
        row = harness.state.get("eu", f"m-{i}")
        assert row is not None and row.state is State.ACKNOWLEDGED
    assert harness.rig.sim.stats.acknowledged == {f"m-{i}": 1 for i in range(3)}
    assert harness.rig.sim.stats.duplicates == 0 and harness.publisher.published == []


def test_rejected_then_retried_then_acknowledged(harness: Harness) -> None:
    harness.rig.sim.set_fault(Fault.REJECT, times=1)
    harness.settle(harness.deliver("m-1"))
    [(exchange, key, headers)] = harness.publisher.published
    assert (exchange, key, headers["attempt"]) == (RETRY, "eu.0", 1)
    assert "EU-REG-7" in headers["x-mra-last-failure"]
    assert harness.trail("m-1") == [
        "SEND_IN_PROGRESS",
        "WAITING_FOR_RECEIPT",
        "SEND_ATTEMPT_FAILED",
        "WAITING_FOR_RETRY",
    ]
    harness.settle(harness.deliver("m-1", attempt=1))  # back from the TTL queue
    assert harness.trail("m-1")[-3:] == ["SEND_IN_PROGRESS", "WAITING_FOR_RECEIPT", "ACKNOWLEDGED"]
    assert harness.channel.acked == [1, 2]
    assert harness.rig.sim.stats.acknowledged == {"m-1": 1} and harness.rig.sim.stats.rejected == 1


def test_unreachable_on_the_last_attempt_is_a_send_failure(harness: Harness) -> None:
    harness.rig.sim.set_fault(Fault.DOWN)
    harness.settle(harness.deliver("m-1", attempt=2))  # the schedule has two steps: this was the last
    trail = harness.trail("m-1")
    assert trail == ["SEND_IN_PROGRESS", "SEND_ATTEMPT_FAILED", "SEND_FAILURE", "DEAD_LETTERED"]
    [(exchange, key, headers)] = harness.publisher.published
    assert (exchange, key) == (DLX, "eu") and headers["x-mra-reason"].startswith(
        "failed: partner unreachable"
    )
    row = harness.state.get("eu", "m-1")
    assert row is not None and row.state is State.FAILED


def test_a_delivered_message_is_not_sent_again(harness: Harness) -> None:
    harness.settle(harness.deliver("m-1"))
    harness.settle(harness.deliver("m-1"))  # redelivered after a lost ack
    assert harness.channel.acked == [1, 2]
    assert harness.rig.sim.stats.deliveries == {"m-1": 1} and harness.rig.sim.stats.duplicates == 0


def test_a_slow_partner_does_not_hold_up_the_loop(harness: Harness) -> None:
    """While one call waits on the partner, the loop keeps handling other deliveries."""
    harness.rig.sim.set_fault(Fault.SLOW, times=1)
    slow = harness.deliver("m-slow")
    assert harness.rig.sim.app.stalled.wait(20)  # the partner holds m-slow's call
    fast = harness.deliver("m-fast")
    harness.settle(fast)
    assert slow not in harness.channel.acked and harness.worker.in_flight == 1
    assert not harness.worker.idle_except_held  # shutdown waits for the call in flight
    harness.rig.sim.app.wake()
    harness.settle(slow)
    assert harness.trail("m-slow")[-1] == "ACKNOWLEDGED"


def test_an_outcome_before_its_batch_is_settled_waits_for_it(harness: Harness) -> None:
    """Batches settle in order: a receipt for a later batch, arriving while an earlier one
    still waits for the broker, is applied once its own batch is settled, not lost."""
    harness.publisher.hold = True
    harness.rig.sim.set_fault(Fault.REJECT, times=1)
    first = harness.deliver("m-1")  # rejected: its retry publish stays unconfirmed
    harness.loop.run_until(lambda: len(harness.publisher.unconfirmed) == 1)
    second = harness.deliver("m-2")
    harness.loop.run_until(lambda: second in harness.worker._early)
    assert harness.channel.acked == []
    harness.publisher.release()
    harness.settle(first, second)
    assert harness.channel.acked == [first, second] and harness.worker._early == {}
    assert harness.trail("m-2") == ["SEND_IN_PROGRESS", "WAITING_FOR_RECEIPT", "ACKNOWLEDGED"]
    assert harness.rig.sim.stats.acknowledged == {"m-2": 1}
