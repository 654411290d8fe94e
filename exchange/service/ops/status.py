"""`exchange status`: queue depths from the broker, rates and the oldest undelivered message
from the audit trail, each partner's health. Plain AMQP 0-9-1 (passive declares), so no
management plugin; the CLI (exchange/service/ops_cli.py) only parses options and prints."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.audit import AuditEvent, AuditStore
from exchange.audit.chain import ChainRow, parse_time
from exchange.audit.entry import format_time
from exchange.config import ExchangeConfig
from exchange.health import Figures, PartnerHealth, assess, configuration_problem
from exchange.registry import transport_for
from exchange.service.ops.queues import QueueStatus, queue_status
from exchange.service.topology import (
    INTAKE_DEAD,
    REJECTS,
    build_topology,
    dead_queue,
    retry_queue,
    work_queue,
)

PENDING_WINDOW = timedelta(days=7)
"""How far back status looks for undelivered messages (and the last success)."""

_PUBLISHED = frozenset({AuditEvent.SEND_ENQUEUED})
_DELIVERED = frozenset({AuditEvent.ACKNOWLEDGED, AuditEvent.ACKNOWLEDGED_WITH_WARNING})
_FAILED = frozenset({AuditEvent.SEND_FAILURE, AuditEvent.DEAD_LETTERED})
_PENDING_START = frozenset({AuditEvent.SEND_ENQUEUED, AuditEvent.WAITING_FOR_RETRY, AuditEvent.REPLAYED})
_PENDING_END = _DELIVERED | _FAILED
_SCANNED = _PUBLISHED | _PENDING_START | _PENDING_END


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
        problem = configuration_problem(config, p) or transport_for(agreement).health(agreement, amqp_url)
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
