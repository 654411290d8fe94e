"""Operations on a running exchange: status, dead-letter replay, feed tail.

The logic lives here, free of the CLI, so tests drive it directly; exchange/amqp/ops_cli.py
only parses options and prints. Everything talks plain AMQP 0-9-1 (no management plugin):
queue depths come from passive declares, rates from the audit trail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pika
import pika.exceptions
from pika.spec import Basic, BasicProperties

from exchange.amqp.confirm import ConfirmingPublisher
from exchange.amqp.service import BrokerUnavailable, _redact, connect_blocking
from exchange.amqp.topology import (
    DLX,
    FEED_STREAM,
    INTAKE_DEAD,
    OUTBOUND,
    REJECTS,
    build_topology,
    dead_queue,
    retry_queue,
    work_queue,
)
from exchange.audit import AuditEntry, AuditEvent, AuditStore, StoredEntry
from exchange.audit.entry import is_sha256_hex
from exchange.config import ExchangeConfig
from exchange.errors import ExchangeError
from exchange.state import Delivery, State, StateStore

PENDING_WINDOW = timedelta(days=7)
"""How far back status looks for undelivered messages (and the last success)."""

_PUBLISHED = frozenset({AuditEvent.SEND_ENQUEUED})
_DELIVERED = frozenset({AuditEvent.ACKNOWLEDGED, AuditEvent.ACKNOWLEDGED_WITH_WARNING})
_FAILED = frozenset({AuditEvent.SEND_FAILURE, AuditEvent.DEAD_LETTERED})
_PENDING_START = frozenset(
    {AuditEvent.SEND_ENQUEUED, AuditEvent.WAITING_FOR_RETRY, AuditEvent.REPLAYED}
)
_PENDING_END = _DELIVERED | _FAILED


class OpsError(ExchangeError):
    """An operation could not be carried out (missing queue, refused consume...)."""


# -- status ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueStatus:
    name: str
    type: str
    depth: int | None
    """Messages ready; None when the queue does not exist or is a stream (no such count)."""
    consumers: int | None
    exists: bool = True


@dataclass(slots=True)
class PartnerActivity:
    """What the audit trail says about one partner's deliveries."""

    published_minute: int = 0
    delivered_minute: int = 0
    failed_minute: int = 0
    published_hour: int = 0
    delivered_hour: int = 0
    failed_hour: int = 0
    last_success: datetime | None = None
    oldest_pending: datetime | None = None


@dataclass
class StatusReport:
    now: datetime
    queues: dict[str, QueueStatus]
    partners: dict[str, PartnerActivity | None]
    """None when the audit trail could not be read."""
    audit_error: str | None = None
    retry_queues: dict[str, list[str]] = field(default_factory=dict)

    def depth(self, name: str) -> int:
        q = self.queues.get(name)
        return q.depth if q is not None and q.depth is not None else 0

    def backlog(self, partner: str) -> int:
        return self.depth(work_queue(partner)) + sum(
            self.depth(q) for q in self.retry_queues.get(partner, [])
        )

    def dead_letters(self) -> dict[str, int]:
        names = [INTAKE_DEAD, REJECTS, *(dead_queue(p) for p in sorted(self.partners))]
        return {n: self.depth(n) for n in names if n in self.queues}

    def as_json(self) -> dict[str, Any]:
        dead = self.dead_letters()
        partners: dict[str, Any] = {}
        for p, act in sorted(self.partners.items()):
            partners[p] = {
                "backlog": self.backlog(p),
                "deadLetters": self.depth(dead_queue(p)),
                "lastSuccess": _iso(act.last_success) if act else None,
                "oldestMessageAgeSeconds": (
                    round((self.now - act.oldest_pending).total_seconds(), 3)
                    if act and act.oldest_pending
                    else None
                ),
                "rates": None
                if act is None
                else {
                    "publishedPerMinute": act.published_minute,
                    "deliveredPerMinute": act.delivered_minute,
                    "failedPerMinute": act.failed_minute,
                    "publishedLastHour": act.published_hour,
                    "deliveredLastHour": act.delivered_hour,
                    "failedLastHour": act.failed_hour,
                },
            }
        return {
            "time": _iso(self.now),
            "queues": {
                q.name: {
                    "type": q.type,
                    "depth": q.depth,
                    "consumers": q.consumers,
                    "exists": q.exists,
                }
                for q in self.queues.values()
            },
            "deadLetters": {"total": sum(dead.values()), "byQueue": dead},
            "partners": partners,
            "auditError": self.audit_error,
        }


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def queue_status(url: str, queues: Iterable[tuple[str, str]]) -> dict[str, QueueStatus]:
    """(name, type) -> depth and consumers by passive declare: works without the management
    plugin, and never creates a queue. A missing queue is reported, not an error."""
    conn = connect_blocking(url)
    out: dict[str, QueueStatus] = {}
    try:
        channel = conn.channel()
        for name, qtype in queues:
            try:
                ok = channel.queue_declare(name, passive=True).method
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise OpsError(f"cannot inspect queue {name}: {exc.reply_text}") from None
                out[name] = QueueStatus(name, qtype, None, None, exists=False)
                channel = conn.channel()  # a failed passive declare closes the channel
                continue
            # A stream keeps what it delivered: its "ready" count means nothing.
            depth = None if qtype == "stream" else int(ok.message_count)
            out[name] = QueueStatus(name, qtype, depth, int(ok.consumer_count))
    except pika.exceptions.AMQPConnectionError as exc:
        raise BrokerUnavailable(
            f"lost the broker at {_redact(url)}: {type(exc).__name__} {exc}"
        ) from None
    finally:
        if conn.is_open:
            conn.close()
    return out


def _partner_of(entry: StoredEntry, by_queue: Mapping[str, str]) -> str | None:
    """The partner an entry is about: its partner field, else the work queue it names
    (a delivery worker's DEAD_LETTERED on a redelivery limit carries only the queue)."""
    if entry.partner:
        return entry.partner
    queue = entry.details.get("queue") if isinstance(entry.details, Mapping) else None
    return by_queue.get(queue) if isinstance(queue, str) else None


def audit_activity(
    entries: Iterable[StoredEntry], partners: Collection[str], now: datetime
) -> dict[str, PartnerActivity]:
    """Rates, last success and oldest undelivered message per partner, in one pass.

    Entries must be in chain order and cover at least the pending window. Failures count
    messages, not entries: a send failure is audited SEND_FAILURE then DEAD_LETTERED.
    A message stops being pending at ACKNOWLEDGED(_WITH_WARNING), SEND_FAILURE or
    DEAD_LETTERED, and is pending again after REPLAYED (it is back in the work queue).
    """
    acts = {p: PartnerActivity() for p in partners}
    by_queue = {work_queue(p): p for p in partners}
    minute, hour = now - timedelta(minutes=1), now - timedelta(hours=1)
    failed_minute: dict[str, set[str]] = {p: set() for p in partners}
    failed_hour: dict[str, set[str]] = {p: set() for p in partners}
    pending: dict[str, dict[str, datetime]] = {p: {} for p in partners}
    for e in entries:
        partner = _partner_of(e, by_queue)
        act = acts.get(partner) if partner is not None else None
        if act is None or partner is None:
            continue
        t = e.time if e.time.tzinfo is not None else e.time.replace(tzinfo=UTC)
        event = e.event
        mid = e.message_id
        if event in _PUBLISHED and t >= hour:
            act.published_hour += 1
            act.published_minute += t >= minute
        elif event in _DELIVERED:
            if act.last_success is None or t > act.last_success:
                act.last_success = t
            if t >= hour:
                act.delivered_hour += 1
                act.delivered_minute += t >= minute
        if event in _FAILED and t >= hour:
            key = mid if mid is not None else f"seq:{e.seq}"
            failed_hour[partner].add(key)
            if t >= minute:
                failed_minute[partner].add(key)
        if mid is not None:
            if event in _PENDING_START:
                pending[partner].setdefault(mid, t)
            elif event in _PENDING_END:
                pending[partner].pop(mid, None)
    for p, act in acts.items():
        act.failed_hour = len(failed_hour[p])
        act.failed_minute = len(failed_minute[p])
        act.oldest_pending = min(pending[p].values(), default=None)
    return acts


def collect_status(
    config: ExchangeConfig,
    amqp_url: str,
    audit: Callable[[], AuditStore] | None,
    now: datetime | None = None,
) -> StatusReport:
    """Queues first (BrokerUnavailable when the broker is down), then the audit; an
    unreadable audit leaves the queue part standing, with audit_error set."""
    now = now or datetime.now(UTC)
    topology = build_topology(config)
    queues = queue_status(
        amqp_url,
        [(q.name, str(q.arguments.get("x-queue-type", "classic"))) for q in topology.queues],
    )
    partners = sorted(config.partners)
    retry = {
        p: [retry_queue(p, i) for i in range(len(config.partners[p].retry_seconds))]
        for p in partners
    }
    report = StatusReport(now, queues, dict.fromkeys(partners), retry_queues=retry)
    if audit is None:
        report.audit_error = "no audit store"
        return report
    try:
        store = audit()
        try:
            activity = audit_activity(store.export(now - PENDING_WINDOW, None), partners, now)
        finally:
            store.close()
    except Exception as exc:  # any back end, any driver: the broker half is still worth showing
        report.audit_error = f"{type(exc).__name__}: {exc}"
        return report
    report.partners = dict(activity)
    return report


# -- replay ------------------------------------------------------------------------------

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
        self.in_round = False
        self.outstanding = 0
        self.idle_timer: Any = None
        self.finishing = False
        self.connect_error: Any = None

    # -- plumbing -------------------------------------------------------------------------

    def run(self) -> None:
        self.conn = pika.SelectConnection(
            pika.URLParameters(self.url),
            on_open_callback=lambda c: self._guard(
                lambda: c.channel(on_open_callback=self._on_channel)
            ),
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_closed,
        )
        self.conn.ioloop.start()
        if self.connect_error is not None:
            raise BrokerUnavailable(
                f"cannot reach the broker at {_redact(self.url)}: {self.connect_error}"
            )

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
        self.total = int(frame.method.message_count)
        if self.total == 0:
            self._close()
            return
        self.channel.basic_qos(
            prefetch_count=min(self.req.window, self.total),
            callback=lambda _f: self._guard(self._consume),
        )

    def _consume(self) -> None:
        # Exclusive: a second replay (or any consumer) on this queue would break the snapshot.
        self.consumer_tag = self.channel.basic_consume(
            self.queue, self._on_message, auto_ack=False, exclusive=True
        )
        self._arm_idle()

    def _arm_idle(self) -> None:
        self._cancel_idle()
        self.idle_timer = self.conn.ioloop.call_later(
            self.req.idle_s, lambda: self._guard(self._on_idle)
        )

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

    def _on_message(
        self, _ch: Any, method: Basic.Deliver, props: BasicProperties, body: bytes
    ) -> None:
        def handle() -> None:
            if self.finishing or self.received >= self.total:
                return  # beyond the snapshot: left unacked, it returns at close
            self.received += 1
            if props.message_id is not None:
                self.report.seen.add(props.message_id)
            self.round.append(
                _Held(method.delivery_tag, props, body, self.req.wanted(props.message_id))
            )
            if self.received >= self.total or len(self.round) >= self.req.window:
                self._process_round()
            else:
                self._arm_idle()

        self._guard(handle)

    def _process_round(self) -> None:
        self._cancel_idle()
        self.in_round = True
        held = self.round
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
        held, self.round = self.round, []
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


# -- feed tail ---------------------------------------------------------------------------

StreamOffset = str | int | datetime
"""'first' | 'last' | 'next', an offset, or a time (sent as an AMQP timestamp)."""


def feed_record(offset: Any, props: BasicProperties, body: bytes) -> dict[str, Any]:
    """One output line: where it is in the stream, whose it is, and the credential."""
    headers = props.headers or {}
    record_id = headers.get("record-id")
    line: dict[str, Any] = {
        "offset": int(offset) if offset is not None else None,
        "messageId": props.message_id,
        "recordId": _text(record_id) if record_id is not None else None,
    }
    try:
        line["credential"] = json.loads(body)
    except ValueError as exc:
        line["credential"] = None
        line["error"] = f"not JSON: {exc}"
        line["raw"] = body.decode("utf-8", "replace")
    return line


def feed_tail(
    url: str,
    emit: Callable[[dict[str, Any]], None],
    start: StreamOffset = "first",
    count: int | None = None,
    follow: bool = False,
    idle_s: float = 1.0,
    stream: str = FEED_STREAM,
    prefetch: int = 200,
) -> int:
    """Read the credential stream from `start`, emit each record; returns how many.

    Stops after `count`, or after `idle_s` without a message unless `follow`. Following
    survives a lost connection: it reconnects and resumes after the last offset seen.
    A time start attaches at chunk granularity, to the second: a few records published
    just before it may come too. An offset start is exact (earlier ones are skipped here).
    """
    emitted = 0
    last: int | None = None
    connected = False
    backoff = 0.5
    while True:
        offset: StreamOffset = start if last is None else last + 1
        try:
            conn = connect_blocking(url)
        except BrokerUnavailable:
            if not follow or not connected:
                raise
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            continue
        connected = True
        try:
            channel = conn.channel()
            channel.basic_qos(prefetch_count=prefetch)  # a stream refuses consumers without it
            floor = offset if isinstance(offset, int) else None
            since_ack = 0
            for method, props, body in channel.consume(
                stream,
                auto_ack=False,
                arguments={"x-stream-offset": offset},
                inactivity_timeout=idle_s,
            ):
                if method is None:
                    if follow:
                        continue
                    break
                backoff = 0.5
                since_ack += 1
                if since_ack >= prefetch // 2:
                    channel.basic_ack(method.delivery_tag, multiple=True)
                    since_ack = 0
                position = (props.headers or {}).get("x-stream-offset")
                if floor is not None and position is not None and int(position) < floor:
                    continue  # the stream starts delivering at a chunk boundary
                if position is not None:
                    last = int(position)
                emit(feed_record(position, props, body))
                emitted += 1
                if count is not None and emitted >= count:
                    break
            channel.cancel()
            return emitted
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                raise OpsError(f"stream {stream} does not exist") from None
            raise OpsError(f"stream {stream}: {exc.reply_text}") from None
        except pika.exceptions.AMQPConnectionError as exc:
            if not follow:
                raise BrokerUnavailable(
                    f"lost the broker at {_redact(url)}: {type(exc).__name__} {exc}"
                ) from None
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
        finally:
            if conn.is_open:
                conn.close()
