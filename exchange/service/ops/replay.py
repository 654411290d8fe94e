"""`exchange replay`: dead letters moved back to their work queue (or kept), each move audited
with the operator's name; nothing lost or duplicated if the connection drops half way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from pika.spec import Basic, BasicProperties

from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.audit.entry import is_sha256_hex
from exchange.service.broker import BrokerUnavailable, redact
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.topology import (
    DLX,
    OUTBOUND,
    dead_queue,
    work_queue,
)
from exchange.state import Delivery, State, StateStore

_BROKER_HEADERS = frozenset(
    {
        "x-delivery-count",
        "x-death",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-first-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-last-death-exchange",
    }
)
"""Set by the broker while the message travelled. Replayed without them: a stale
x-delivery-count would make the worker think its redeliveries are spent, and an old
x-death can make the broker drop the message as a dead-letter cycle on its next expiry."""
_STALE_ON_REPLAY = _BROKER_HEADERS | {"x-mra-reason", "x-mra-from"}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def dead_reason(headers: Mapping[str, Any]) -> str:
    """Why a message is dead: our x-mra-reason, else the broker's latest x-death."""
    reason = headers.get("x-mra-reason")
    if reason:
        return _text(reason)
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        d = deaths[0]
        return f"{_text(d.get('reason', '?'))} by the broker from {_text(d.get('queue', '?'))}"
    first = headers.get("x-first-death-reason")
    return _text(first) if first else "unknown"


def _copy_properties(p: BasicProperties, headers: dict[str, Any]) -> BasicProperties:
    """The same message properties with new headers; user_id is dropped (the broker
    refuses one that is not the publishing user) and the message stays persistent."""
    return BasicProperties(
        content_type=p.content_type,
        content_encoding=p.content_encoding,
        headers=headers,
        delivery_mode=2,
        priority=p.priority,
        correlation_id=p.correlation_id,
        reply_to=p.reply_to,
        expiration=p.expiration,
        message_id=p.message_id,
        timestamp=p.timestamp,
        type=p.type,
        app_id=p.app_id,
    )


def replay_properties(p: BasicProperties, operator: str) -> BasicProperties:
    headers = {k: v for k, v in (p.headers or {}).items() if k not in _STALE_ON_REPLAY}
    headers["attempt"] = 0
    headers["x-mra-replayed-by"] = operator
    return _copy_properties(p, headers)


def keep_properties(p: BasicProperties) -> BasicProperties:
    headers = {k: v for k, v in (p.headers or {}).items() if k != "x-delivery-count"}
    return _copy_properties(p, headers)


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    partner: str
    ids: frozenset[str] = frozenset()
    replay_all: bool = False
    operator: str = "operator"
    window: int = 500
    """Dead letters held at once (prefetch); a round is published, confirmed, then acked."""
    idle_s: float = 5.0
    """Give up waiting for the rest of the snapshot after this long without a delivery."""

    def wanted(self, message_id: str | None) -> bool:
        return self.replay_all or (message_id is not None and message_id in self.ids)


@dataclass(frozen=True, slots=True)
class Moved:
    message_id: str | None
    record_id: str | None
    reason: str


@dataclass
class ReplayReport:
    examined: int = 0
    replayed: list[Moved] = field(default_factory=list)
    kept: int = 0
    failed: list[tuple[str | None, str]] = field(default_factory=list)
    """Publishes the broker did not confirm: those dead letters stay where they were."""
    missing: list[str] = field(default_factory=list)
    """Requested ids that were not among the dead letters."""
    seen: set[str] = field(default_factory=set)
    error: str | None = None


@dataclass(slots=True)
class _Held:
    tag: int
    properties: BasicProperties
    body: bytes
    replay: bool
    ok: bool | None = None
    reason: str | None = None


def replay_dead_letters(
    url: str, request: ReplayRequest, audit: AuditStore, state: StateStore
) -> ReplayReport:
    """Move the chosen dead letters of a partner back to its work queue; keep the rest.

    How every message is kept: the dead queue is consumed exclusively, as a snapshot of the
    messages it held at the start (its depth then), a window at a time. Each one is
    published again, with confirms: to mra.outbound (key = partner) when chosen, else back
    to mra.dlx (key = partner), i.e. to the tail of the same dead queue, headers as they
    were. Only a confirmed publish lets its dead letter be acked; an unconfirmed one is left
    unacked and returns to the queue when the channel closes. Nacking with requeue is not
    used: on a quorum queue it would count a delivery on every message looked at. The cost:
    kept messages move behind dead letters that arrived during the replay, and a crash
    between a confirm and its ack leaves a duplicate (never a loss).

    The state row is reset to REJECTED before the publish, so the delivery worker never
    finds the replayed message marked FAILED and skips it; REPLAYED is audited once the
    publish is confirmed, and flushed before the dead letter is acked.
    """
    replayer = _Replayer(url, request, audit, state)
    replayer.run()
    report = replayer.report
    if not request.replay_all:
        report.missing = sorted(request.ids - report.seen)
    return report


class _Replayer:
    def __init__(self, url: str, request: ReplayRequest, audit: AuditStore, state: StateStore):
        self.url = url
        self.req = request
        self.audit = audit
        self.state = state
        self.report = ReplayReport()
        self.queue = dead_queue(request.partner)
        self.conn: Any = None
        self.channel: Any = None
        self.publisher: ConfirmingPublisher | None = None
        self.consumer_tag: str | None = None
        self.total = 0
        self.received = 0
        self.round: list[_Held] = []
        """Received, not yet published."""
        self.current: list[_Held] = []
        """Published, waiting for confirms."""
        self.in_round = False
        self.outstanding = 0
        self.idle_timer: Any = None
        self.finishing = False
        self.connect_error: Any = None

    # -- plumbing -------------------------------------------------------------------------

    def run(self) -> None:
        self.conn = pika.SelectConnection(
            pika.URLParameters(self.url),
            on_open_callback=lambda c: self._guard(lambda: self._open_channel(c)),
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_closed,
        )
        self.conn.ioloop.start()
        if self.connect_error is not None:
            raise BrokerUnavailable(f"cannot reach the broker at {redact(self.url)}: {self.connect_error}")

    def _open_channel(self, conn: Any) -> None:
        conn.channel(on_open_callback=self._on_channel)

    def _on_open_error(self, _conn: Any, exc: Any) -> None:
        self.connect_error = exc
        self.conn.ioloop.stop()

    def _on_closed(self, _conn: Any, exc: Any) -> None:
        if not self.finishing and self.report.error is None:
            self.report.error = f"connection closed: {exc}"
        if self.publisher is not None and self.publisher.in_flight:
            self.publisher.fail_all(f"connection closed: {exc}")
        self.conn.ioloop.stop()

    def _guard(self, fn: Callable[[], None]) -> None:
        """Callbacks run inside the I/O loop: an exception there must end the run cleanly
        (nothing unconfirmed acked), not escape with the connection half open."""
        try:
            fn()
        except Exception as exc:
            self._abort(f"{type(exc).__name__}: {exc}")

    def _abort(self, reason: str) -> None:
        """Stop without acking anything more: held dead letters go back to their queue."""
        if self.report.error is None:
            self.report.error = reason
        self.finishing = True
        self._cancel_idle()
        if self.conn is not None and self.conn.is_open:
            self.conn.close()

    def _close(self) -> None:
        self.finishing = True
        self._cancel_idle()
        if self.conn.is_open:
            self.conn.close()

    def _on_channel_closed(self, _ch: Any, exc: Any) -> None:
        if self.finishing:
            return
        if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
            if exc.reply_code == 404:
                self._abort(f"{self.queue} does not exist (is {self.req.partner} a partner here?)")
                return
            if exc.reply_code in (403, 405):
                self._abort(f"{self.queue} is being consumed by someone else: {exc.reply_text}")
                return
        self._abort(f"channel closed: {exc}")

    # -- the steps ------------------------------------------------------------------------

    def _on_channel(self, channel: Any) -> None:
        self.channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        self.publisher = ConfirmingPublisher(channel)
        channel.queue_declare(
            self.queue,
            passive=True,
            callback=lambda frame: self._guard(lambda: self._on_declared(frame)),
        )

    def _on_declared(self, frame: Any) -> None:
        consumers = int(frame.method.consumer_count)
        if consumers:  # quorum queues do not enforce an exclusive consume: ask first
            self._abort(f"{self.queue} is being consumed by someone else ({consumers} consumers)")
            return
        self.total = int(frame.method.message_count)
        if self.total == 0:
            self._close()
            return
        self.channel.basic_qos(
            prefetch_count=min(self.req.window, self.total),
            callback=lambda _f: self._guard(self._consume),
        )

    def _consume(self) -> None:
        # Exclusive: a second replay (or any consumer) on this queue would break the snapshot
        # (classic queues enforce it; for quorum ones the consumer count was checked).
        self.consumer_tag = self.channel.basic_consume(
            self.queue, self._on_message, auto_ack=False, exclusive=True
        )
        self._arm_idle()

    def _arm_idle(self) -> None:
        self._cancel_idle()
        self.idle_timer = self.conn.ioloop.call_later(self.req.idle_s, lambda: self._guard(self._on_idle))

    def _cancel_idle(self) -> None:
        if self.idle_timer is not None and self.conn is not None:
            self.conn.ioloop.remove_timeout(self.idle_timer)
        self.idle_timer = None

    def _on_idle(self) -> None:
        """Fewer dead letters came than the queue reported (purged meanwhile?): stop there."""
        self.idle_timer = None
        if self.in_round:
            return
        self.total = self.received
        if self.round:
            self._process_round()
        else:
            self._close()

    def _on_message(self, _ch: Any, method: Basic.Deliver, props: BasicProperties, body: bytes) -> None:
        def handle() -> None:
            if self.finishing or self.received >= self.total:
                return  # beyond the snapshot: left unacked, it returns at close
            self.received += 1
            if props.message_id is not None:
                self.report.seen.add(props.message_id)
            tag = int(method.delivery_tag or 0)  # always set on a delivery
            self.round.append(_Held(tag, props, body, self.req.wanted(props.message_id)))
            if self.received >= self.total or len(self.round) >= self.req.window:
                self._process_round()
            else:
                self._arm_idle()

        self._guard(handle)

    def _process_round(self) -> None:
        self._cancel_idle()
        self.in_round = True
        held, self.round = self.round, []
        self.current = held
        self.report.examined += len(held)
        p = self.req.partner
        resets = [
            Delivery(p, h.properties.message_id, _sha(h.properties), 0, State.REJECTED)
            for h in held
            if h.replay and h.properties.message_id
        ]
        self.state.put_many(resets)  # before the publish: see replay_dead_letters
        self.outstanding = len(held)
        assert self.publisher is not None
        for h in held:

            def done(ok: bool, reason: str | None, h: _Held = h) -> None:
                h.ok, h.reason = ok, reason
                self.outstanding -= 1
                if self.outstanding == 0:
                    self._guard(self._finish_round)

            if h.replay:
                self.publisher.publish(
                    OUTBOUND, p, h.body, replay_properties(h.properties, self.req.operator), done
                )
            else:
                self.publisher.publish(DLX, p, h.body, keep_properties(h.properties), done)

    def _finish_round(self) -> None:
        held, self.current = self.current, []
        acks: list[int] = []
        for h in held:
            mid = h.properties.message_id
            if not h.ok:
                self.report.failed.append((mid, h.reason or "not confirmed"))
                continue
            acks.append(h.tag)
            if not h.replay:
                self.report.kept += 1
                continue
            headers = h.properties.headers or {}
            reason = dead_reason(headers)
            record_id = headers.get("record-id")
            record = _text(record_id) if record_id is not None else None
            sha = _sha(h.properties)
            self.audit.append(
                AuditEntry(
                    AuditEvent.REPLAYED,
                    message_id=mid,
                    record_id=record,
                    partner=self.req.partner,
                    actor=self.req.operator,
                    doc_sha256=sha if is_sha256_hex(sha) else None,
                    details={
                        "reason": reason,
                        "from": self.queue,
                        "to": work_queue(self.req.partner),
                    },
                )
            )
            self.report.replayed.append(Moved(mid, record, reason))
        self.audit.flush()  # durable before the dead letters go: raises -> nothing acked
        self.in_round = False
        if not self.channel.is_open:  # lost meanwhile: the dead letters come back, none lost
            self._abort(
                "connection lost before the dead letters were acked: they are still dead letters "
                "(those reported replayed are now also in the work queue)"
            )
            return
        all_ok = len(acks) == len(held)
        if self.report.failed or self.received >= self.total:
            # Cancel first: once it is confirmed, acking cannot bring in another delivery.
            def last() -> None:
                self._ack(acks, all_ok)
                self._close()

            self.channel.basic_cancel(self.consumer_tag, callback=lambda _f: self._guard(last))
            return

        def next_round() -> None:
            self._ack(acks, all_ok)
            self._arm_idle()

        # Shrink the window first, so the acks let in no more than the snapshot's rest.
        remaining = self.total - self.received
        self.channel.basic_qos(
            prefetch_count=min(self.req.window, remaining),
            callback=lambda _f: self._guard(next_round),
        )

    def _ack(self, tags: list[int], all_ok: bool) -> None:
        if not tags:
            return
        if all_ok:  # every earlier round is settled: one ack covers this one
            self.channel.basic_ack(max(tags), multiple=True)
            return
        for tag in tags:
            self.channel.basic_ack(tag)


def _sha(props: BasicProperties) -> str:
    value = (props.headers or {}).get("sha256")
    return _text(value) if value is not None else ""
