"""Operations on a running exchange: status, dead-letter replay, feed tail.

The logic lives here, free of the CLI, so tests drive it directly; exchange/amqp/ops_cli.py
only parses options and prints. Everything talks plain AMQP 0-9-1 (no management plugin):
queue depths come from passive declares, rates from the audit trail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pika
import pika.exceptions
from pika.spec import Basic, BasicProperties

from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.audit.chain import ChainRow, parse_time
from exchange.audit.entry import format_time, is_sha256_hex
from exchange.config import ExchangeConfig
from exchange.errors import ExchangeError
from exchange.health import Figures, PartnerHealth, assess, configuration_problem, vhost_of
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.service import BrokerUnavailable, _redact, connect_blocking
from exchange.service.topology import (
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
from exchange.state import Delivery, State, StateStore
from exchange.transports.amqp.provision import vhost_exists

PENDING_WINDOW = timedelta(days=7)
"""How far back status looks for undelivered messages (and the last success)."""

_PUBLISHED = frozenset({AuditEvent.SEND_ENQUEUED})
_DELIVERED = frozenset({AuditEvent.ACKNOWLEDGED, AuditEvent.ACKNOWLEDGED_WITH_WARNING})
_FAILED = frozenset({AuditEvent.SEND_FAILURE, AuditEvent.DEAD_LETTERED})
_PENDING_START = frozenset({AuditEvent.SEND_ENQUEUED, AuditEvent.WAITING_FOR_RETRY, AuditEvent.REPLAYED})
_PENDING_END = _DELIVERED | _FAILED
_SCANNED = _PUBLISHED | _PENDING_START | _PENDING_END


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
    health: dict[str, PartnerHealth] = field(default_factory=dict)

    def depth(self, name: str) -> int:
        q = self.queues.get(name)
        return q.depth if q is not None and q.depth is not None else 0

    def backlog(self, partner: str) -> int:
        return self.depth(work_queue(partner)) + sum(
            self.depth(q) for q in self.retry_queues.get(partner, [])
        )

    def figures(self, partner: str) -> Figures:
        work = self.queues.get(work_queue(partner))
        act = self.partners.get(partner)
        oldest = act.oldest_pending if act else None
        return Figures(
            work_queue=work_queue(partner),
            backlog=self.backlog(partner),
            retrying=sum(self.depth(q) for q in self.retry_queues.get(partner, [])),
            consumers=work.consumers if work is not None and work.exists else None,
            dead_letters=self.depth(dead_queue(partner)),
            failed_last_hour=act.failed_hour if act else None,
            oldest_age_s=(self.now - oldest).total_seconds() if oldest else None,
        )

    def dead_letters(self) -> dict[str, int]:
        names = [INTAKE_DEAD, REJECTS, *(dead_queue(p) for p in sorted(self.partners))]
        return {n: self.depth(n) for n in names if n in self.queues}

    def as_json(self) -> dict[str, Any]:
        dead = self.dead_letters()
        partners: dict[str, Any] = {}
        for p, act in sorted(self.partners.items()):
            health = self.health.get(p)
            partners[p] = {
                "health": None if health is None else health.health.value,
                "reason": None if health is None else health.reason,
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
            depth = None if qtype == "stream" else int(ok.message_count or 0)
            out[name] = QueueStatus(name, qtype, depth, int(ok.consumer_count or 0))
    except pika.exceptions.AMQPConnectionError as exc:
        raise BrokerUnavailable(f"lost the broker at {_redact(url)}: {type(exc).__name__} {exc}") from None
    finally:
        if conn.is_open:
            conn.close()
    return out


def partner_of(row: ChainRow, by_queue: Mapping[str, str]) -> str | None:
    """The partner a row is about: its partner field, else the work queue it names
    (a delivery worker's DEAD_LETTERED on a redelivery limit carries only the queue)."""
    if row.partner:
        return row.partner
    if row.event != AuditEvent.DEAD_LETTERED:
        return None
    try:
        queue = json.loads(row.details).get("queue")
    except (ValueError, AttributeError):
        return None
    return by_queue.get(queue) if isinstance(queue, str) else None


def audit_activity(
    rows: Iterable[ChainRow], partners: Collection[str], now: datetime
) -> dict[str, PartnerActivity]:
    """Rates, last success and oldest undelivered message per partner, in one pass.

    Rows (AuditStore.scan) must be in chain order and cover at least the pending window;
    times are compared as the chain's fixed-width UTC text, parsed only for the answer.
    Failures count messages, not entries: a send failure is audited SEND_FAILURE then
    DEAD_LETTERED. A message stops being pending at ACKNOWLEDGED(_WITH_WARNING),
    SEND_FAILURE or DEAD_LETTERED, and is pending again after REPLAYED (it is back in
    the work queue).
    """
    by_queue = {work_queue(p): p for p in partners}
    minute, hour = format_time(now - timedelta(minutes=1)), format_time(now - timedelta(hours=1))
    counts = {p: [0, 0, 0, 0] for p in partners}  # published m/h, delivered m/h
    last_success: dict[str, str] = {}
    failed_minute: dict[str, set[str]] = {p: set() for p in partners}
    failed_hour: dict[str, set[str]] = {p: set() for p in partners}
    pending: dict[str, dict[str, str]] = {p: {} for p in partners}
    for row in rows:
        partner = partner_of(row, by_queue)
        if partner is None or partner not in counts:
            continue
        t, event, mid = row.time, row.event, row.message_id
        if event in _PUBLISHED and t >= hour:
            c = counts[partner]
            c[0] += t >= minute
            c[1] += 1
        elif event in _DELIVERED:
            if t > last_success.get(partner, ""):
                last_success[partner] = t
            if t >= hour:
                c = counts[partner]
                c[2] += t >= minute
                c[3] += 1
        if event in _FAILED and t >= hour:
            key = mid if mid is not None else f"seq:{row.seq}"
            failed_hour[partner].add(key)
            if t >= minute:
                failed_minute[partner].add(key)
        if mid is not None:
            if event in _PENDING_START:
                pending[partner].setdefault(mid, t)
            elif event in _PENDING_END:
                pending[partner].pop(mid, None)
    acts: dict[str, PartnerActivity] = {}
    for p, (pub_m, pub_h, del_m, del_h) in counts.items():
        oldest = min(pending[p].values(), default=None)
        acts[p] = PartnerActivity(
            published_minute=pub_m,
            published_hour=pub_h,
            delivered_minute=del_m,
            delivered_hour=del_h,
            failed_minute=len(failed_minute[p]),
            failed_hour=len(failed_hour[p]),
            last_success=parse_time(last_success[p]) if p in last_success else None,
            oldest_pending=parse_time(oldest) if oldest is not None else None,
        )
    return acts


def assess_partners(
    config: ExchangeConfig,
    report: StatusReport,
    amqp_url: str,
    breakers: Mapping[str, str] | None = None,
) -> dict[str, PartnerHealth]:
    """Every partner's health with its reason, from the report, its agreement and the broker."""
    health: dict[str, PartnerHealth] = {}
    for p in sorted(config.partners):
        agreement = config.partners[p]
        exists = vhost_exists(amqp_url, vhost_of(agreement)) if agreement.transport == "amqp" else None
        problem = configuration_problem(config, p, vhost_exists=exists)
        figures = report.figures(p)
        if breakers is not None and p in breakers:
            figures = replace(figures, breaker=breakers[p])
        health[p] = assess(agreement, figures, problem)
    return health


def collect_status(
    config: ExchangeConfig,
    amqp_url: str,
    audit: Callable[[], AuditStore] | None,
    now: datetime | None = None,
    breakers: Mapping[str, str] | None = None,
) -> StatusReport:
    """Queues first (BrokerUnavailable when the broker is down), then the audit, then each
    partner's health; an unreadable audit leaves the queue part standing, with audit_error
    set."""
    report = _collect(config, amqp_url, audit, now)
    report.health = assess_partners(config, report, amqp_url, breakers)
    return report


def _collect(
    config: ExchangeConfig,
    amqp_url: str,
    audit: Callable[[], AuditStore] | None,
    now: datetime | None,
) -> StatusReport:
    now = now or datetime.now(UTC)
    topology = build_topology(config)
    queues = queue_status(
        amqp_url,
        [(q.name, str(q.arguments.get("x-queue-type", "classic"))) for q in topology.queues],
    )
    partners = sorted(config.partners)
    retry = {p: [retry_queue(p, i) for i in range(len(config.partners[p].retry_seconds))] for p in partners}
    report = StatusReport(now, queues, dict.fromkeys(partners), retry_queues=retry)
    if audit is None:
        report.audit_error = "no audit store"
        return report
    try:
        store = audit()
        try:
            rows = store.scan(now - PENDING_WINDOW, None, _SCANNED)
            activity = audit_activity(rows, partners, now)
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
            raise BrokerUnavailable(f"cannot reach the broker at {_redact(self.url)}: {self.connect_error}")

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
    if props.content_type == "application/vc+jwt":
        line["certificate"] = _text(headers["certificate"]) if "certificate" in headers else None
        line["timestamp"] = props.timestamp
        line["jwt"] = body.decode("ascii", "replace")
        body = _jws_payload(body)  # shown, not verified: `exchange verify-credential` does that
    try:
        line["credential"] = json.loads(body)
    except ValueError as exc:
        line["credential"] = None
        line["error"] = f"not JSON: {exc}"
        line["raw"] = body.decode("utf-8", "replace")
    return line


def _jws_payload(token: bytes) -> bytes:
    """The payload of a compact JWS, unverified (b"" when it is not one)."""
    import base64

    parts = token.split(b".")
    if len(parts) != 3:
        return b""
    try:
        return base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4))
    except ValueError:
        return b""


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
    tail = _Tail(url, emit, count, follow, idle_s, stream, prefetch)
    backoff = 0.5
    while True:
        offset: StreamOffset = start if tail.last is None else tail.last + 1
        tail.run(offset)
        if tail.error is not None:
            raise tail.error
        if tail.done or not follow:
            return tail.emitted
        if tail.connected:
            backoff = 0.5
        time.sleep(backoff)  # following, and the connection was lost: resume after `last`
        backoff = min(backoff * 2, 30.0)


class _Tail:
    """One stream consumer on a SelectConnection, ended by closing the connection.

    Not pika's BlockingChannel: when a consumer stops it rejects the deliveries it has
    buffered, and a stream answers basic.reject by closing the connection (540). Closing
    the connection instead just drops them, which is all a stream (non-destructive) needs.
    """

    def __init__(
        self,
        url: str,
        emit: Callable[[dict[str, Any]], None],
        count: int | None,
        follow: bool,
        idle_s: float,
        stream: str,
        prefetch: int,
    ):
        self.url = url
        self.emit = emit
        self.count = count
        self.follow = follow
        self.idle_s = idle_s
        self.stream = stream
        self.prefetch = prefetch
        self.emitted = 0
        self.last: int | None = None
        self.done = False
        self.error: Exception | None = None
        self.connected = False
        self.ever_connected = False
        self.conn: Any = None
        self.channel: Any = None
        self.floor: int | None = None
        self.timer: Any = None
        self.unacked = 0

    def run(self, offset: StreamOffset) -> None:
        self.connected = False
        self.floor = offset if isinstance(offset, int) else None
        self.conn = pika.SelectConnection(
            pika.URLParameters(self.url),
            on_open_callback=lambda c: self._guard(lambda: self._on_open(c, offset)),
            on_open_error_callback=self._on_open_error,
            on_close_callback=lambda c, e: self._on_closed(e),
        )
        try:
            self.conn.ioloop.start()
        except KeyboardInterrupt:
            self.done = True  # Ctrl-C while following: a normal end
            if self.conn.is_open:
                self.conn.close()
                self.conn.ioloop.start()

    def _on_closed(self, exc: Any) -> None:
        if not self.done and self.error is None and not self.follow:
            self.error = BrokerUnavailable(f"lost the broker at {_redact(self.url)}: {exc}")
        self._cancel_timer()
        self.conn.ioloop.stop()

    def _on_open_error(self, _conn: Any, exc: Any) -> None:
        if not self.follow or not self.ever_connected:
            self.error = BrokerUnavailable(f"cannot reach the broker at {_redact(self.url)}: {exc}")
        self.conn.ioloop.stop()

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # e.g. stdout closed under us: end, do not hang
            self.error = exc
            self._finish()

    def _finish(self) -> None:
        self._cancel_timer()
        if self.conn.is_open:
            self.conn.close()

    def _on_open(self, conn: Any, offset: StreamOffset) -> None:
        self.connected = self.ever_connected = True
        conn.channel(on_open_callback=lambda ch: self._guard(lambda: self._on_channel(ch, offset)))

    def _on_channel(self, channel: Any, offset: StreamOffset) -> None:
        self.channel = channel
        channel.add_on_close_callback(self._on_channel_closed)

        def consume(_frame: Any) -> None:
            channel.basic_consume(
                self.stream,
                lambda ch, m, p, b: self._guard(lambda: self._on_message(m, p, b)),
                auto_ack=False,
                arguments={"x-stream-offset": offset},
            )
            self._arm_timer()

        # A stream refuses a consumer without a prefetch, and one without manual acks.
        channel.basic_qos(prefetch_count=self.prefetch, callback=lambda f: self._guard(lambda: consume(f)))

    def _on_channel_closed(self, _channel: Any, exc: Any) -> None:
        if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
            if exc.reply_code == 404:
                self.error = OpsError(f"stream {self.stream} does not exist")
            else:
                self.error = OpsError(f"stream {self.stream}: {exc.reply_text}")
        self._finish()

    def _arm_timer(self) -> None:
        if self.follow:
            return
        self._cancel_timer()
        self.timer = self.conn.ioloop.call_later(self.idle_s, self._on_idle)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.conn.ioloop.remove_timeout(self.timer)
            self.timer = None

    def _on_idle(self) -> None:
        self.timer = None
        self.done = True
        self._finish()

    def _on_message(self, method: Basic.Deliver, props: BasicProperties, body: bytes) -> None:
        if self.done:
            return
        self.unacked += 1
        if self.unacked >= max(1, self.prefetch // 2):  # acks are the stream's credit
            self.channel.basic_ack(method.delivery_tag, multiple=True)
            self.unacked = 0
        position = (props.headers or {}).get("x-stream-offset")
        if self.floor is not None and position is not None and int(position) < self.floor:
            self._arm_timer()
            return  # the stream starts delivering at a chunk boundary
        if position is not None:
            self.last = int(position)
        self.emit(feed_record(position, props, body))
        self.emitted += 1
        if self.count is not None and self.emitted >= self.count:
            self.done = True
            self._finish()
            return
        self._arm_timer()
