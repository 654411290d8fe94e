"""Delivery workers: a partner's work queue -> the partner, exactly once as the partner
sees it. The state table says what was already sent; retries go through TTL queues on
the agreement's schedule; what cannot be delivered goes to the partner's dead letters."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import structlog
from pika.spec import BasicProperties

from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.config import Agreement
from exchange.service.consumer import BatchConsumer, Disposition, Message, Work
from exchange.service.topology import DLX, RETRY, retry_key
from exchange.state import Delivery, State, StateStore
from exchange.version_ledger import VersionLedger

log = structlog.get_logger("exchange.amqp.delivery")


def attempt_of(message: Message) -> int:
    return int(message.headers.get("attempt", 0) or 0)


def forward_properties(m: Message, **extra: Any) -> BasicProperties:
    return BasicProperties(
        delivery_mode=2,
        message_id=m.message_id,
        correlation_id=m.message_id,
        type=m.properties.type,
        content_type=m.properties.content_type,
        headers={**m.headers, **extra.pop("headers", {})},
        **extra,
    )


_ACKNOWLEDGED = (AuditEvent.ACKNOWLEDGED, AuditEvent.ACKNOWLEDGED_WITH_WARNING)


@dataclass(slots=True)
class Acknowledged:
    """A positive receipt matched to the work messages held for it."""

    works: list[Work]
    status: str
    warnings: list[str]
    arrived_us: int | None


def audit_first_acknowledgements(
    audit: AuditStore,
    state: StateStore,
    rows: list[Delivery],
    entries: dict[str, tuple[AuditEntry, int | None]],
) -> None:
    """ACKNOWLEDGED in the trail once per message, whoever learns of it: the state turns
    ACKNOWLEDGED first (one transaction decides between workers, see acknowledge_first) and
    only the winner's entry is written. An entry not written yet stays buffered and goes with
    the next flush, so a database restarting costs a retry, not an entry."""
    for mid in state.acknowledge_first(rows):
        entry, at_us = entries[mid]
        audit.append(entry, at_us=at_us)
    audit.flush()


def acknowledged_before(audit: AuditStore, message_id: str | None, partner: str) -> bool:
    """A receipt processed once already (its entry written, or still buffered) whose
    acknowledgement to the broker was lost with a connection: audit it once, not twice."""
    return message_id is not None and audit.last_state(message_id, partner) in _ACKNOWLEDGED


class PartnerDelivery(BatchConsumer):
    """Shared by every transport: skip what was delivered, retry or give up with a reason."""

    versions: VersionLedger | None = None
    """The record versions (exchange/version_ledger.py): set by the service."""

    marks_sent = False
    """`before_sending` writes SENT (see mark_sent): it runs on the commit thread, and the
    batch's sends once it is durable."""

    def __init__(self, *, agreement: Agreement, **kwargs: Any):
        super().__init__(**kwargs)
        self.agreement = agreement
        self.partner = agreement.partner
        self._marking: set[tuple[str, int]] = set()
        """(message id, attempt) whose SENT is being written: a copy in the next batch waits
        for the receipt of this send instead of being sent again."""

    def _entry(self, event: AuditEvent, m: Message, **details: Any) -> AuditEntry:
        return AuditEntry(
            event,
            message_id=m.message_id,
            record_id=m.headers.get("record-id"),
            partner=self.partner,
            doc_sha256=m.headers.get("sha256"),
            details=details,
        )

    def handle(self, works: list[Work]) -> None:
        ids = [w.message.message_id for w in works if w.message.message_id]
        states = self.state.get_many(self.partner, ids)
        todo: list[tuple[Work, bool]] = []
        sending: set[tuple[str, int]] = set()
        for work in works:
            m = work.message
            st = states.get(m.message_id or "")
            if st is not None and st.state in (State.ACKNOWLEDGED, State.FAILED):
                log.info("already delivered", partner=self.partner, message_id=m.message_id, state=st.state)
                continue  # ACK: the partner has it (or it is parked): never twice
            key = (m.message_id or "", attempt_of(m))
            sent = (st is not None and st.state is State.SENT and st.attempt == key[1]) or key in sending
            sent = sent or key in self._marking  # SENT on its way to the database (an earlier batch)
            sending.add(key)  # a second copy in the same batch (an intake redelivery) is not sent again
            todo.append((work, sent))
        todo = self._not_over_newer(todo)
        fresh = [w for w, sent in todo if not sent]
        batch = works[0].batch if works else None
        if not self.marks_sent or not fresh or self.committer is None or batch is None:
            self.before_sending(fresh)
            for work, sent in todo:
                self.deliver(work, already_sent=sent)
            return
        # SENT is written on the commit thread, the sends follow when it is durable: the loop
        # does not wait for the database (whose write lock an audit flush may be holding).
        keys = {(w.message.message_id or "", attempt_of(w.message)) for w in fresh}
        self._marking |= keys
        batch.pending += 1  # the batch is not finished before its sends are made

        def then() -> None:
            self._marking -= keys
            for work, sent in todo:
                self.deliver(work, already_sent=sent)
            batch.pending -= 1
            self._drain()

        self.durably(lambda: self.before_sending(fresh), then)

    def _not_over_newer(self, todo: list[tuple[Work, bool]]) -> list[tuple[Work, bool]]:
        """A version whose record already went to this partner in a later version (a retry
        overtaken by the next version) is parked with both numbers, never sent over it."""
        numbered = [w.message.message_id for w, _ in todo if w.message.headers.get("record-version")]
        if self.versions is None or not numbered:
            return todo
        later = self.versions.delivered_later(self.partner, [m for m in numbered if m])
        keep = []
        for work, sent in todo:
            hit = later.get(work.message.message_id or "")
            if hit is None:
                keep.append((work, sent))
                continue
            m = work.message
            number, newer, newer_mid = hit
            reason = (
                f"{m.properties.type}-{m.headers.get('record-id')} version {number} (message {m.message_id})"
                f" is older than version {newer} (message {newer_mid}) already sent to {self.partner}:"
                " not delivered over it"
            )
            log.warning(
                "older version not delivered", partner=self.partner, message_id=m.message_id, reason=reason
            )
            self.dead_letter(
                work, DLX, self.partner, reason, partner=self.partner, record_id=m.headers.get("record-id")
            )
            sha = m.headers.get("sha256", "")
            work.states.append(Delivery(self.partner, m.message_id or "", sha, attempt_of(m), State.FAILED))
            work.disposition = Disposition.ACK
        return keep

    def before_sending(self, works: list[Work]) -> None:
        """Hook: runs once per batch, before anything in it is sent."""

    def mark_sent(self, works: list[Work]) -> None:
        """SENT is durable before the partner can see anything: if the connection drops
        with a send unconfirmed, the redelivered message waits for the receipt of the copy
        the partner may already hold instead of being sent a second time."""
        self.state.put_many(
            Delivery(
                self.partner,
                w.message.message_id or "",
                w.message.headers.get("sha256", ""),
                attempt_of(w.message),
                State.SENT,
            )
            for w in works
        )

    @abstractmethod
    def deliver(self, work: Work, already_sent: bool) -> None: ...

    def failed_attempt(self, work: Work, reason: str) -> None:
        """A rejection or a missing receipt: the next step of the schedule, or SEND_FAILURE."""
        m = work.message
        attempt = attempt_of(m)
        self.audit.append(self._entry(AuditEvent.SEND_ATTEMPT_FAILED, m, reason=reason, attempt=attempt))
        schedule = self.agreement.retry_seconds
        sha = m.headers.get("sha256", "")
        if attempt < len(schedule):
            props = forward_properties(
                m, headers={"attempt": attempt + 1, "x-mra-last-failure": reason[:500]}
            )
            entry = self._entry(
                AuditEvent.WAITING_FOR_RETRY,
                m,
                reason=reason,
                retryInSeconds=schedule[attempt],
                attempt=attempt + 1,
            )
            self.publish(
                work,
                RETRY,
                retry_key(self.partner, attempt),
                m.body,
                props,
                on_ok=lambda: self.audit.append(entry),
            )
            work.states.append(Delivery(self.partner, m.message_id or "", sha, attempt, State.REJECTED))
        else:
            self.audit.append(self._entry(AuditEvent.SEND_FAILURE, m, reason=reason, attempts=attempt + 1))
            self.dead_letter(
                work, DLX, self.partner, reason, partner=self.partner, record_id=m.headers.get("record-id")
            )
            work.states.append(Delivery(self.partner, m.message_id or "", sha, attempt, State.FAILED))
        work.disposition = Disposition.ACK
