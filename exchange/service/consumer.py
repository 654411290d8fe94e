"""Batch consumer: the shape every worker shares.

Deliveries are gathered into batches and handled together. A batch is whatever arrived
before the I/O loop found nothing more ready to read (or `batch_size`, whichever first),
so a lone record goes through at once and batches grow only when records queue up.
Per batch: one state query, publishes pipelined with confirms, then, batch by batch in
delivery order, one audit flush and one state write, and only then the acks. So an
entry is durable before the step it records is acknowledged, and no step costs a
network round trip per message.

A delivery ends ACK (done), REQUEUE (try again; at the last allowed delivery it is
dead-lettered instead), or HOLD (settled later, e.g. when a partner's receipt comes).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import structlog
from pika.spec import Basic, BasicProperties

from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.service.commit import Committer
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.topology import DELIVERY_LIMIT
from exchange.state import Delivery as StateRow
from exchange.state import StateStore

log = structlog.get_logger("exchange.amqp")


class Disposition(Enum):
    ACK = "ack"
    REQUEUE = "requeue"
    REJECT = "reject"  # the broker dead-letters it (its DLX), after we audited why
    HOLD = "hold"


@dataclass(slots=True)
class Message:
    tag: int
    redelivered: bool
    exchange: str
    routing_key: str
    properties: BasicProperties
    body: bytes
    received: float = 0.0
    """perf_counter() when it arrived: latency is measured from here to its ack."""
    arrived_us: int = 0
    """Wall clock (µs since the epoch) when it arrived: audit entries of this step say so."""

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.headers or {})

    @property
    def message_id(self) -> str | None:
        return self.properties.message_id

    @property
    def delivery_count(self) -> int:
        """Earlier deliveries of this message (quorum queues count them)."""
        return int(self.headers.get("x-delivery-count", 0) or 0)

    @property
    def last_chance(self) -> bool:
        return self.delivery_count + 1 >= DELIVERY_LIMIT


@dataclass(slots=True)
class Work:
    """One delivery being handled: what it still waits for and what it leaves behind."""

    message: Message
    disposition: Disposition = Disposition.ACK
    outstanding: int = 0
    failure: str | None = None
    states: list[StateRow] = field(default_factory=list)
    on_failure: Callable[[Work], None] | None = None
    batch: Batch | None = None
    failure_handled: bool = False


@dataclass(slots=True)
class Batch:
    works: list[Work]
    pending: int = 0
    """Publishes of this batch not confirmed yet (kept as a count: checked on every confirm)."""

    def __post_init__(self) -> None:
        for work in self.works:
            work.batch = self
            self.pending += work.outstanding

    @property
    def complete(self) -> bool:
        return self.pending == 0


class BatchConsumer(ABC):
    def __init__(
        self,
        *,
        name: str,
        queue: str,
        channel: Any,
        publisher: ConfirmingPublisher,
        audit: AuditStore,
        state: StateStore,
        prefetch: int,
        batch_size: int,
        linger_ms: int,
        committer: Committer | None = None,
    ):
        self.name = name
        self.queue = queue
        self.channel = channel
        self.publisher = publisher
        self.audit = audit
        self.state = state
        self.prefetch = prefetch
        self.batch_size = batch_size
        self.linger = linger_ms / 1000
        self._buffer: list[Message] = []
        self._timer: Any = None
        self._batches: deque[Batch] = deque()
        self._held: dict[int, Message] = {}
        self.alive = True
        self.consumer_tag: str | None = None
        self.handled = 0
        self.committer = committer
        self._committing = 0
        self._settled_early: dict[int, bool] = {}
        """Held deliveries whose outcome came before their batch was settled."""
        self.taken_over: set[int] = set()
        """Deliveries another batch settles now (a retry made before their batch finished)."""
        self.on_acked: Callable[[list[Message]], None] | None = None
        """Observer of acknowledged deliveries (benchmarks measure latency with it)."""

    # -- wiring ---------------------------------------------------------------------

    def start(self) -> None:
        self.channel.basic_qos(prefetch_count=self.prefetch)
        self.consumer_tag = self.channel.basic_consume(self.queue, self._on_message, auto_ack=False)
        log.info("consuming", worker=self.name, queue=self.queue)

    def stop_consuming(self) -> None:
        if self.alive and self.consumer_tag and self.channel.is_open:
            self.channel.basic_cancel(self.consumer_tag)
        self._flush_buffer()

    @property
    def idle(self) -> bool:
        return not self._buffer and not self._batches and not self._held and not self._committing

    @property
    def idle_except_held(self) -> bool:
        """Nothing in flight but deliveries waiting for a partner's receipt (those return
        to the queue at close, and their receipts wait in the reply queue)."""
        return not self._buffer and not self._batches and not self._committing

    def dead(self) -> None:
        """The channel or connection is gone; unacked deliveries come back by themselves."""
        self.alive = False
        self.forget()
        self._buffer.clear()
        self._batches.clear()
        self._held.clear()
        self._settled_early.clear()
        self.taken_over.clear()

    def forget(self) -> None:
        """Hook: drop what the worker keeps about deliveries it will never finish."""
        return None

    def _on_message(self, _ch: Any, method: Basic.Deliver, properties: BasicProperties, body: bytes) -> None:
        self._buffer.append(
            Message(
                int(method.delivery_tag or 0),
                bool(method.redelivered),
                method.exchange or "",
                method.routing_key or "",
                properties,
                body,
                time.perf_counter(),
                time.time_ns() // 1000,
            )
        )
        if len(self._buffer) >= self.batch_size:
            self._flush_buffer()
        elif self._timer is None:
            # Timers run once the loop has handled every socket event that was ready: with
            # no linger, the batch is what had arrived by then, not what a timer waited for.
            self._timer = self.channel.connection.ioloop.call_later(self.linger, self._flush_buffer)

    def _flush_buffer(self) -> None:
        if self._timer is not None:
            self.channel.connection.ioloop.remove_timeout(self._timer)
            self._timer = None
        if not self._buffer or not self.alive:
            return
        messages, self._buffer = self._buffer, []
        works = [Work(m) for m in messages]
        batch = Batch(works)
        self._batches.append(batch)
        self.handle(works)
        self.handled += len(works)
        self._drain()

    # -- for subclasses -------------------------------------------------------------

    @abstractmethod
    def handle(self, works: list[Work]) -> None:
        """Process a batch: publish, append audit entries, set dispositions."""

    def publish(
        self,
        work: Work,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: BasicProperties,
        on_ok: Callable[[], None] | None = None,
        publisher: ConfirmingPublisher | None = None,
    ) -> None:
        work.outstanding += 1
        if work.batch is not None:
            work.batch.pending += 1

        def done(ok: bool, reason: str | None) -> None:
            if not self.alive:
                return
            work.outstanding -= 1
            if work.batch is not None:
                work.batch.pending -= 1
            if ok:
                if on_ok is not None:
                    on_ok()
            elif work.failure is None:
                work.failure = reason
            self._drain()

        (publisher or self.publisher).publish(exchange, routing_key, body, properties, done)

    def audit_later(self, entry: AuditEntry) -> Callable[[], None]:
        """An on_ok callback: the entry is appended once the publish is confirmed."""

        def append() -> None:
            self.audit.append(entry)

        return append

    def dead_letter(self, work: Work, exchange: str, routing_key: str, reason: str, **audit: Any) -> None:
        """Park a message with its reason where operations will find it, audited."""
        m = work.message
        headers = dict(m.headers)
        headers.update({"x-mra-reason": reason[:1000], "x-mra-from": self.queue})
        props = BasicProperties(
            delivery_mode=2,
            message_id=m.message_id,
            type=m.properties.type,
            content_type=m.properties.content_type,
            correlation_id=m.properties.correlation_id,
            headers=headers,
        )
        self.audit.append(
            AuditEntry(
                AuditEvent.DEAD_LETTERED,
                message_id=m.message_id,
                details={"reason": reason, "queue": self.queue},
                **audit,
            )
        )
        self.publish(work, exchange, routing_key, m.body, props)

    def give_up_or_retry(self, work: Work, reason: str) -> None:
        """A transient failure: try again, unless this was the last allowed delivery."""
        if work.message.last_chance:
            work.disposition = Disposition.REJECT
            self.audit.append(
                AuditEntry(
                    AuditEvent.DEAD_LETTERED,
                    message_id=work.message.message_id,
                    details={
                        "reason": reason,
                        "queue": self.queue,
                        "deliveries": work.message.delivery_count + 1,
                    },
                )
            )
        else:
            work.disposition = Disposition.REQUEUE
            work.failure = work.failure or reason

    # -- finishing --------------------------------------------------------------------

    def _drain(self) -> None:
        while self._batches and self._batches[0].complete and self.alive:
            batch = self._batches.popleft()
            self._finish(batch)

    def _finish(self, batch: Batch) -> None:
        for work in batch.works:
            if work.failure is not None and work.disposition is Disposition.ACK and not work.failure_handled:
                work.failure_handled = True
                if work.on_failure is not None:
                    work.on_failure(work)
                else:
                    self.give_up_or_retry(work, work.failure)
        if batch.pending:  # handling a failure published more: finish when that is confirmed
            self._batches.appendleft(batch)
            return
        rows = [row for w in batch.works if w.failure is None for row in w.states]
        for w in batch.works:  # held from now on: their receipts may come before the commit ends
            if w.disposition is Disposition.HOLD:
                if w.message.tag in self.taken_over:
                    self.taken_over.discard(w.message.tag)
                else:
                    self._held[w.message.tag] = w.message

        def write() -> None:
            self.audit.flush()
            self.keep(batch)
            self.state.put_many(rows)

        def then() -> None:
            self.finished(batch)
            self._settle_batch(batch)

        self.durably(write, then)

    def durably(self, write: Callable[[], None], then: Callable[[], None]) -> None:
        """`write` (audit flush, states...), then `then` (the acks): on the commit thread when
        there is one, so the loop serves the broker meanwhile; here and now otherwise. A write
        that fails closes the channel: nothing of it is acknowledged, the broker redelivers."""
        if self.committer is None:
            write()
            then()
            return
        self._committing += 1

        def done(error: BaseException | None) -> None:
            self._committing -= 1
            if not self.alive:
                return
            if error is not None:
                log.error("durable write failed: redelivery", worker=self.name, error=str(error))
                if self.channel.is_open:
                    self.channel.close()
                return
            then()

        self.committer.submit(write, done, self.channel.connection.ioloop)

    def keep(self, batch: Batch) -> None:
        """Hook: write what must be kept with the batch before its states say "done" (a crash
        after the state write would make the redelivery a duplicate, so nothing after it)."""
        return None

    def finished(self, batch: Batch) -> None:
        """Hook: the batch's audit entries and states are durable; its acks go out next."""
        return None

    def _settle_batch(self, batch: Batch) -> None:
        ch = self.channel
        if not ch.is_open:
            return
        works = batch.works
        if (
            all(w.disposition is Disposition.ACK for w in works)
            and not self._held
            and not self._settled_early
        ):
            ch.basic_ack(works[-1].message.tag, multiple=True)
            if self.on_acked is not None:
                self.on_acked([w.message for w in works])
            return
        acked = []
        for w in works:
            tag = w.message.tag
            if w.disposition is Disposition.ACK:
                ch.basic_ack(tag)
                acked.append(w.message)
            elif w.disposition is Disposition.REQUEUE:
                log.warning("requeue", worker=self.name, message_id=w.message.message_id, reason=w.failure)
                ch.basic_nack(tag, requeue=True)
            elif w.disposition is Disposition.REJECT:
                log.error(
                    "dead-lettered", worker=self.name, message_id=w.message.message_id, reason=w.failure
                )
                ch.basic_reject(tag, requeue=False)
            elif tag in self._settled_early:  # its receipt was quicker than this batch
                self._held[tag] = w.message
                self.settle_held(tag, self._settled_early.pop(tag))
        if acked and self.on_acked is not None:
            self.on_acked(acked)

    def settle_held(self, tag: int, ack: bool = True) -> None:
        """Finish a held delivery (its audit entries must be flushed first)."""
        if tag not in self._held:
            if self.alive and any(w.message.tag == tag for b in self._batches for w in b.works):
                self._settled_early[tag] = ack  # its batch is not finished yet: settled with it
            return
        if not self.channel.is_open:
            return
        message = self._held.pop(tag)
        if ack:
            self.channel.basic_ack(tag)
            if self.on_acked is not None:
                self.on_acked([message])
        else:
            self.channel.basic_nack(tag, requeue=True)
