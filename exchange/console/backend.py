"""What the console shows and does, as JSON-ready dicts: the web layer only routes and guards.

Everything comes from the stores the service already keeps: the audit trail (timelines,
rates, failures), the document archive (what was sent, what the partner answered), the
broker (queue depths, by passive declare) and the service's circuit breakers. Dead letters
are listed from the audit trail, not by reading the dead queues: looking at a message on a
quorum queue counts as a delivery, and enough looks would make the broker drop it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exchange.archive import Archived, DocumentArchive, Kind
from exchange.audit import AuditEvent, AuditStore, StoredEntry
from exchange.audit.entry import format_time
from exchange.config import ExchangeConfig
from exchange.console.render import pretty
from exchange.registry import pulled as pulls
from exchange.registry import soap_partner
from exchange.service.offload import SOURCE as INTAKE_SOURCE
from exchange.service.ops.replay import ReplayRequest, replay_dead_letters
from exchange.service.ops.status import PENDING_WINDOW, StatusReport, partner_of
from exchange.service.topology import REJECTS, dead_queue, work_queue
from exchange.state import StateStore

StatusSource = Callable[[], StatusReport]
SEARCH_LIMIT = 100
NAME_SEARCH_DOCUMENTS = 20000
"""How many of the latest documents a search by name looks through."""


def fold(text: str) -> str:
    """For matching: full-width and compatibility forms unified (NFKC), case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


INLINE_LIMIT = 256 * 1024
"""Documents larger than this are offered for download only."""

FAILED = frozenset({AuditEvent.SEND_FAILURE, AuditEvent.DEAD_LETTERED})
_DELIVERED = frozenset({AuditEvent.ACKNOWLEDGED, AuditEvent.ACKNOWLEDGED_WITH_WARNING})
_TRACKED = FAILED | _DELIVERED | {AuditEvent.REPLAYED, AuditEvent.SEND_ENQUEUED}


class UnknownPartner(ValueError):
    pass


@dataclass
class ConsoleBackend:
    config: ExchangeConfig
    audit: AuditStore
    status: StatusSource
    """collect_status for this service (queues from the broker, rates from the audit trail)."""
    state: StateStore | None = None
    archive: DocumentArchive | None = None
    amqp_url: str | None = None
    soap_receipts: Any = None
    """exchange.soap.outbound.ReceiptStore: the signed receipts of SOAP partners."""
    breakers: Callable[[], dict[str, str]] = dict
    status_ttl_s: float = 2.0
    _cached: tuple[float, dict[str, Any]] | None = None
    _status_lock: threading.Lock = field(default_factory=threading.Lock)
    _replay_lock: threading.Lock = field(default_factory=threading.Lock)

    # -- overview ---------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        """Per partner: backlog, oldest message age, last hour's rates, breaker, dead letters.
        Cached for a moment: every open console polls it."""
        with self._status_lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.status_ttl_s:
                return self._cached[1]
            data = self._overview()
            self._cached = (time.monotonic(), data)
            return data

    def forget_status(self) -> None:
        with self._status_lock:
            self._cached = None

    def _overview(self) -> dict[str, Any]:
        try:
            report = self.status().as_json()
            broker_error = None
        except Exception as exc:  # the broker down is what operators most need to see
            report, broker_error = None, f"{type(exc).__name__}: {exc}"
        breakers = self.breakers()
        partners = []
        for code, agreement in sorted(self.config.partners.items()):
            row = (report or {}).get("partners", {}).get(code) or {}
            rates = row.get("rates") or {}
            partners.append(
                {
                    "partner": code,
                    "name": agreement.name,
                    "transport": agreement.transport,
                    "health": row.get("health"),
                    "reason": row.get("reason") or broker_error,
                    "backlog": row.get("backlog"),
                    "deadLetters": row.get("deadLetters"),
                    "oldestMessageAgeSeconds": row.get("oldestMessageAgeSeconds"),
                    "lastSuccess": row.get("lastSuccess"),
                    "sentLastHour": rates.get("publishedLastHour"),
                    "acknowledgedLastHour": rates.get("deliveredLastHour"),
                    "failedLastHour": rates.get("failedLastHour"),
                    "circuit": breakers.get(code),
                }
            )
        return {
            "time": format_time(datetime.now(UTC)),
            "partners": partners,
            "queues": (report or {}).get("queues", {}),
            "deadLetters": (report or {}).get("deadLetters", {"total": None, "byQueue": {}}),
            "brokerError": broker_error,
            "auditError": (report or {}).get("auditError"),
        }

    # -- search and the message view ----------------------------------------------------

    def search(self, query: str) -> dict[str, Any]:
        """Messages by message id or business key (certificate number, facility, PT round)."""
        q = query.strip()
        if not q:
            return {"query": q, "messages": []}
        ids: list[str] = []
        for entry in self.audit.trace(q):
            if entry.message_id and entry.message_id not in ids:
                ids.append(entry.message_id)
        if not ids and self.archive is not None:
            ids = self._by_name(q)
        messages = [self._summary(mid, self._timeline(mid)) for mid in ids[-SEARCH_LIMIT:]]
        messages.sort(key=lambda m: m["lastTime"] or "", reverse=True)
        return {"query": q, "messages": messages, "truncated": len(ids) > SEARCH_LIMIT}

    def _by_name(self, query: str) -> list[str]:
        """Messages whose documents contain `query` (a facility, applicant, manufacturer or
        laboratory name, Chinese or English): a case- and width-insensitive substring match
        (NFKC, then casefold) over the latest documents sent, oldest first."""
        assert self.archive is not None
        needle = fold(query)
        ids: list[str] = []
        for mid, body in self.archive.recent_documents(NAME_SEARCH_DOCUMENTS):
            if mid not in ids and needle in fold(body.decode("utf-8", "replace")):
                ids.append(mid)
                if len(ids) > SEARCH_LIMIT:  # enough to show the latest and say there are more
                    break
        return ids[::-1]

    def _timeline(self, message_id: str) -> list[StoredEntry]:
        """The message's own events: not another partner's refused request that named its id."""
        return [e for e in self._trail(message_id) if not _foreign(e)]

    def _trail(self, message_id: str) -> list[StoredEntry]:
        return [e for e in self.audit.trace(message_id) if e.message_id == message_id]

    def _summary(self, message_id: str, timeline: list[StoredEntry]) -> dict[str, Any]:
        return {
            "messageId": message_id,
            "recordId": next((e.record_id for e in timeline if e.record_id), None),
            "kind": next((e.details.get("kind") for e in timeline if e.details.get("kind")), None),
            "firstTime": format_time(timeline[0].time) if timeline else None,
            "lastTime": format_time(timeline[-1].time) if timeline else None,
            "partners": {p: s["state"] for p, s in self._partner_states(timeline).items()},
        }

    def _partner_states(self, timeline: list[StoredEntry]) -> dict[str, dict[str, Any]]:
        """The latest event per partner, with the last failure's reason."""
        by_queue = {work_queue(p): p for p in self.config.partners}
        states: dict[str, dict[str, Any]] = {}
        for e in timeline:
            partner = e.partner or _queue_partner(e, by_queue)
            if partner is None:
                continue
            s = states.setdefault(partner, {"state": None, "time": None, "reason": None, "attempts": 0})
            s["state"], s["time"] = str(e.event), format_time(e.time)
            reason = e.details.get("reason")
            if e.event in _DELIVERED or e.event is AuditEvent.REPLAYED:
                s["reason"] = None  # an old failure is history now: the timeline keeps it
            elif reason:
                s["reason"] = str(reason)
            if e.event is AuditEvent.SEND_IN_PROGRESS:
                s["attempts"] += 1
        return states

    def message(self, message_id: str) -> dict[str, Any] | None:
        timeline = self._timeline(message_id)
        kept = self.archive.for_message(message_id) if self.archive is not None else []
        if not timeline and not kept:
            return None
        partners = self._partner_states(timeline)
        for a in kept:
            partners.setdefault(a.partner, {"state": None, "time": None, "reason": None, "attempts": 0})
        views = []
        for partner, s in sorted(partners.items()):
            agreement = self.config.partners.get(partner)
            views.append(
                {
                    "partner": partner,
                    **s,
                    "replayable": s["state"] in FAILED and agreement is not None and not pulls(agreement),
                    "transport": agreement.transport if agreement is not None else None,
                    "document": _doc_view(_latest(kept, partner, Kind.DOCUMENT)),
                    "receipts": [_doc_view(r) for r in self._receipts(kept, partner, message_id)],
                }
            )
        return {
            **self._summary(message_id, timeline),
            "timeline": [_entry_view(e) for e in timeline],
            "refusedRequests": [_entry_view(e) for e in self._trail(message_id) if _foreign(e)],
            "deliveries": views,
        }

    def _receipts(self, kept: list[Archived], partner: str, message_id: str) -> list[Archived]:
        found = [a for a in kept if a.partner == partner and a.kind is Kind.RECEIPT]
        agreement = self.config.partners.get(partner)
        if self.soap_receipts is not None and agreement is not None and soap_partner(agreement):
            for r in self.soap_receipts.for_message(partner, message_id):
                found.append(
                    Archived(partner, message_id, Kind.RECEIPT, hashlib.sha256(r.receipt).hexdigest(),
                             "application/xml", r.receipt, r.stored_at)
                )  # fmt: skip
        return found

    def document(
        self, message_id: str, partner: str, kind: Kind, sha256: str | None = None
    ) -> Archived | None:
        """The latest of that kind, or the one with that digest (a partner may answer several times)."""
        kept = self.archive.for_message(message_id) if self.archive is not None else []
        if kind is Kind.RECEIPT:
            found = self._receipts(kept, partner, message_id)
        else:
            found = [a for a in kept if a.partner == partner and a.kind is kind]
        if sha256:
            found = [a for a in found if a.sha256 == sha256]
        return found[-1] if found else None

    # -- dead letters and replay --------------------------------------------------------

    def dead_letters(self) -> dict[str, Any]:
        """Messages whose latest outcome for a partner is SEND_FAILURE or DEAD_LETTERED
        (and not replayed since), with their reasons, newest first."""
        since = datetime.now(UTC) - PENDING_WINDOW
        by_queue = {work_queue(p): p for p in self.config.partners}
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.audit.scan(since, None, _TRACKED):
            partner = partner_of(row, by_queue)
            if partner is None or row.message_id is None:
                continue
            key = (partner, row.message_id)
            item = latest.setdefault(key, {"partner": partner, "messageId": row.message_id, "recordId": None})
            item["recordId"] = row.record_id or item["recordId"]
            item["state"], item["time"] = row.event, row.time
            if row.event in FAILED:
                details = _json(row.details)
                item["reason"] = details.get("reason") or item.get("reason")
                if "attempts" in details:
                    item["attempts"] = details["attempts"]
        rows = [r for r in latest.values() if r["state"] in FAILED]
        rows.extend(self._intake_rejects(since))
        for r in rows:  # a pull partner's failure never reaches a dead queue: nothing to replay
            agreement = self.config.partners.get(r["partner"])
            r["replayable"] = agreement is not None and not pulls(agreement)
        rows.sort(key=lambda r: r["time"], reverse=True)
        depths: dict[str, int | None] = {REJECTS: None}  # beside the intake rejects listed
        depths.update({dead_queue(p): None for p in sorted(self.config.partners)})
        depths.update(self.overview()["deadLetters"].get("byQueue", {}))
        return {"deadLetters": rows, "queueDepths": depths, "window": f"{PENDING_WINDOW.days} days"}

    def _intake_rejects(self, since: datetime) -> list[dict[str, Any]]:
        """Records refused at intake (parked on mra.rejects): listed with their reasons, never
        replayable (the input itself is wrong: the domestic system sends it again, fixed)."""
        found: dict[str, dict[str, Any]] = {}
        for row in self.audit.scan(since, None, {AuditEvent.REJECTED}):
            details = _json(row.details)
            if details.get("source") != INTAKE_SOURCE or details.get("duplicate"):
                continue
            key = row.message_id or f"seq:{row.seq}"
            found[key] = {
                "partner": None,
                "queue": REJECTS,
                "messageId": row.message_id,
                "recordId": row.record_id,
                "state": row.event,
                "time": row.time,
                "reason": details.get("reason"),
                "field": details.get("field"),
                "replayable": False,
            }
        return list(found.values())

    def replay(self, partner: str, message_ids: list[str], operator: str) -> dict[str, Any]:
        """Back to the partner's work queue, audited REPLAYED with the operator as actor."""
        if partner not in self.config.partners:
            raise UnknownPartner(partner)
        if self.amqp_url is None or self.state is None:
            return {"error": "replay needs the broker and the delivery state store", "replayed": []}
        request = ReplayRequest(partner, frozenset(message_ids), False, operator, idle_s=2.0)
        with self._replay_lock:  # one at a time: a replay consumes the dead queue exclusively
            report = replay_dead_letters(self.amqp_url, request, self.audit, self.state)
        self.forget_status()
        return {
            "partner": partner,
            "operator": operator,
            "replayed": [m.message_id for m in report.replayed],
            "missing": report.missing,
            "failed": [{"messageId": m, "reason": r} for m, r in report.failed],
            "examined": report.examined,
            "error": report.error,
        }


def _foreign(entry: StoredEntry) -> bool:
    """A request refused to a partner that named someone else's message (a probe)."""
    return entry.event is AuditEvent.REJECTED and bool(entry.details.get("caller"))


def _queue_partner(entry: StoredEntry, by_queue: dict[str, str]) -> str | None:
    if entry.event is not AuditEvent.DEAD_LETTERED:
        return None
    queue = entry.details.get("queue")
    return by_queue.get(queue) if isinstance(queue, str) else None


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _latest(kept: list[Archived], partner: str, kind: Kind) -> Archived | None:
    found = [a for a in kept if a.partner == partner and a.kind is kind]
    return found[-1] if found else None


def _entry_view(e: StoredEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "time": format_time(e.time),
        "event": str(e.event),
        "partner": e.partner,
        "actor": e.actor,
        "recordId": e.record_id,
        "details": dict(e.details),
        "docSha256": e.doc_sha256,
    }


def _doc_view(a: Archived | None) -> dict[str, Any] | None:
    if a is None:
        return None
    inline = len(a.body) <= INLINE_LIMIT
    return {
        "partner": a.partner,
        "kind": a.kind.value,
        "sha256": a.sha256,
        "contentType": a.content_type,
        "bytes": len(a.body),
        "storedAt": a.stored_at,
        "pretty": pretty(a.body, a.content_type) if inline else None,
    }
