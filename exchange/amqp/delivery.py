"""Delivery workers: a partner's work queue -> the partner, exactly once as the partner
sees it. The state table says what was already sent; retries go through TTL queues on
the agreement's schedule; what cannot be delivered goes to the partner's dead letters."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pika.spec import BasicProperties

from exchange.amqp.confirm import ConfirmingPublisher
from exchange.amqp.consumer import Batch, BatchConsumer, Disposition, Message, Work
from exchange.amqp.topology import DLX, FEED_STREAM, RETRY, retry_key
from exchange.archive import Archived, DocumentArchive, Kind
from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.config import Agreement
from exchange.state import Delivery, State

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


def acknowledged_before(audit: AuditStore, message_id: str | None, partner: str) -> bool:
    """A receipt processed once already (its entry written, or still buffered) whose
    acknowledgement to the broker was lost with a connection: audit it once, not twice."""
    return message_id is not None and audit.last_state(message_id, partner) in _ACKNOWLEDGED


class PartnerDelivery(BatchConsumer):
    """Shared by every transport: skip what was delivered, retry or give up with a reason."""

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


class FeedDelivery(PartnerDelivery):
    """Belt-and-Road: append the credential to the bri.feed stream; appended = delivered.

    An issued credential (the intake issued and signed it: header credential-id) goes out
    as one version: message-id = the credential id, the time it is appended, app-id, its
    media type (application/vc+jwt) and the certificate it is a version of, so a consumer
    keeps the latest per certificate."""

    def deliver(self, work: Work, already_sent: bool) -> None:
        m = work.message
        credential_id = m.headers.get("credential-id")
        if credential_id:
            props = BasicProperties(
                delivery_mode=2,
                message_id=str(credential_id),
                correlation_id=m.message_id,
                timestamp=int(time.time()),
                app_id=APP_ID,
                type=m.properties.type,
                content_type=m.properties.content_type,
                headers={
                    **m.headers,
                    "certificate": f"{m.properties.type}:{_text(m.headers.get('record-id'))}",
                },
            )
        else:
            props = forward_properties(m, timestamp=None)
        entry = self._entry(AuditEvent.ACKNOWLEDGED, m, stream=FEED_STREAM)
        self.audit.append(self._entry(AuditEvent.SEND_IN_PROGRESS, m, stream=FEED_STREAM))
        self.publish(work, "", FEED_STREAM, m.body, props, on_ok=lambda: self.audit.append(entry))
        work.states.append(
            Delivery(
                self.partner,
                m.message_id or "",
                m.headers.get("sha256", ""),
                attempt_of(m),
                State.ACKNOWLEDGED,
            )
        )


APP_ID = "mra-exchange"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


class AmqpPartnerDelivery(PartnerDelivery):
    """A partner on its own vhost: publish to its exchange, hold the work message until its
    receipt (or a timeout) says what happened."""

    def __init__(self, *, partner_publisher: ConfirmingPublisher, receipt_timeout_s: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.partner_publisher = partner_publisher
        self.receipt_timeout_s = receipt_timeout_s
        opts = self.agreement.options
        self.exchange = str(opts.get("exchange", f"{self.partner}.inbound"))
        self.routing_key = str(opts.get("routing_key", self.partner))
        self.reply_queue = str(opts.get("reply_queue", f"{self.partner}.replies"))
        self.awaiting: dict[str, list[Work]] = {}
        self._timers: dict[str, Any] = {}
        self._resent: set[str] = set()
        """Ids redelivered after a lost connection: their receipt may have been audited."""

    marks_sent = True

    def before_sending(self, works: list[Work]) -> None:
        self.mark_sent(works)

    def deliver(self, work: Work, already_sent: bool) -> None:
        m = work.message
        mid = m.message_id or ""
        work.disposition = Disposition.HOLD
        self.awaiting.setdefault(mid, []).append(work)
        if already_sent:  # a redelivery after a lost connection: its receipt is still to come
            self._resent.add(mid)
            self._arm_timer(mid)
            return
        self.audit.append(
            self._entry(AuditEvent.SEND_IN_PROGRESS, m, exchange=self.exchange, attempt=attempt_of(m))
        )
        # x-mra-send names this one send: a partner (like our simulator) tells the broker
        # redelivering a copy it already took from a second send of the same message.
        props = forward_properties(m, reply_to=self.reply_queue, headers={"x-mra-send": uuid.uuid4().hex})
        waiting = self._entry(AuditEvent.WAITING_FOR_RECEIPT, m, replyTo=self.reply_queue)
        self.publish(
            work,
            self.exchange,
            self.routing_key,
            m.body,
            props,
            on_ok=lambda: self.audit.append(waiting),
            publisher=self.partner_publisher,
        )
        work.on_failure = self._send_failed
        self._arm_timer(mid)

    def _send_failed(self, work: Work) -> None:
        """The partner's broker did not take it (unroutable, nack): a failed attempt."""
        mid = work.message.message_id or ""
        self._forget(mid, work)
        reason = work.failure or "not accepted by the partner's broker"
        work.failure = None  # handled: its retry (or dead letter) is what the batch waits for now
        self.failed_attempt(work, reason)

    def _arm_timer(self, mid: str) -> None:
        if mid in self._timers:
            return
        ioloop = self.channel.connection.ioloop
        self._timers[mid] = ioloop.call_later(self.receipt_timeout_s, lambda: self._timed_out(mid))

    def _forget(self, mid: str, work: Work | None = None) -> list[Work]:
        works = self.awaiting.pop(mid, [])
        timer = self._timers.pop(mid, None)
        if timer is not None:
            self.channel.connection.ioloop.remove_timeout(timer)
        return works

    def _timed_out(self, mid: str) -> None:
        self._timers.pop(mid, None)
        if not self.alive or mid not in self.awaiting:
            return
        current = self.state.get(self.partner, mid)
        works = self.awaiting.pop(mid, [])
        if current is not None and current.state is State.ACKNOWLEDGED:
            for w in works:  # another worker took the receipt
                self.settle_held(w.message.tag)
            return
        self._resolve(works, "REJECT", f"no receipt within {self.receipt_timeout_s:g} s")

    def receipt(
        self,
        mid: str,
        status: str,
        reason: str | None,
        warnings: list[str],
        arrived_us: int | None = None,
        acknowledged: list[Acknowledged] | None = None,
    ) -> bool:
        """A receipt for one of our messages. False when nothing here was waiting for it.

        An ACK or WARN goes to `acknowledged` when given, so that a batch of receipts costs
        one audit flush and one state write (`acknowledge_many`), not one per receipt."""
        works = self._forget(mid)
        if not works:
            return False
        if status in ("ACK", "WARN") and acknowledged is not None:
            acknowledged.append(Acknowledged(works, status, warnings, arrived_us))
            return True
        self._resolve(works, status, reason, warnings, arrived_us)
        return True

    def acknowledge_many(self, items: list[Acknowledged], before: Callable[[], None] | None = None) -> None:
        """Receipts that say the partner has our messages: audited and durable (one flush,
        one state write for them all), then the held work messages are acknowledged.
        `before`: a write of the caller's that goes first (the receipts' archive)."""
        if not items:
            if before is not None:
                self.durably(before, lambda: None)
            return
        rows = []
        for item in items:
            first = item.works[0].message
            mid = first.message_id or ""
            maybe_seen = mid in self._resent or any(w.message.redelivered for w in item.works)
            self._resent.discard(mid)
            if not (maybe_seen and acknowledged_before(self.audit, first.message_id, self.partner)):
                ack = (
                    AuditEvent.ACKNOWLEDGED if item.status == "ACK" else AuditEvent.ACKNOWLEDGED_WITH_WARNING
                )
                self.audit.append(self._entry(ack, first, warnings=item.warnings), at_us=item.arrived_us)
            sha = first.headers.get("sha256", "")
            rows.append(Delivery(self.partner, mid, sha, attempt_of(first), State.ACKNOWLEDGED))

        def write() -> None:
            if before is not None:
                before()
            self.audit.flush()
            self.state.put_many(rows)

        def then() -> None:
            for item in items:
                for w in item.works:
                    self.settle_held(w.message.tag)

        self.durably(write, then)

    def _resolve(
        self,
        works: list[Work],
        status: str,
        reason: str | None,
        warnings: list[str] | None = None,
        arrived_us: int | None = None,
    ) -> None:
        if status in ("ACK", "WARN"):
            self.acknowledge_many([Acknowledged(works, status, warnings or [], arrived_us)])
            return
        # A rejection: one retry for the message, the other copies are just settled.
        self._resent.discard(works[0].message.message_id or "")
        head, *rest = works
        if self._held.pop(head.message.tag, None) is None:
            self.taken_over.add(head.message.tag)  # its batch is still open: it must not hold it
        self._settled_early.pop(head.message.tag, None)
        # A work of its own: the batch it came in may still be settling (HOLD, left alone)
        retry = Work(head.message)
        self.failed_attempt(retry, reason or "rejected by the partner")
        retry.disposition = Disposition.ACK
        self._batches.append(Batch([retry]))
        for w in rest:
            self.settle_held(w.message.tag)
        self._drain()


class ReceiptConsumer(BatchConsumer):
    """The partner's receipts (JSON: status ACK | WARN | REJECT, reason, warnings), matched
    to our messages by correlation id."""

    def __init__(
        self, *, delivery: AmqpPartnerDelivery, archive: DocumentArchive | None = None, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.delivery = delivery
        self.archive = archive

    def handle(self, works: list[Work]) -> None:
        partner = self.delivery.partner
        archive = self.archive
        if archive is not None:  # the evidence first, as the partner sent it: one write per batch
            rows = [
                Archived(
                    partner,
                    w.message.properties.correlation_id,
                    Kind.RECEIPT,
                    hashlib.sha256(w.message.body).hexdigest(),
                    w.message.properties.content_type or "application/json",
                    w.message.body,
                )
                for w in works
                if w.message.properties.correlation_id
            ]
            # Written on the commit thread, not on the loop: first in acknowledge_many's write
            # (the evidence before what it leads to), so no commit of its own.
            keep: Callable[[], None] | None = lambda: archive.put_many(rows)  # noqa: E731
        else:
            keep = None
        acknowledged: list[Acknowledged] = []
        taken: set[str] = set()
        for work in works:
            m = work.message
            mid = m.properties.correlation_id or ""
            try:
                receipt = json.loads(m.body)
                status = str(receipt.get("status", "")).upper()
                if status not in ("ACK", "WARN", "REJECT"):
                    raise ValueError(f"unknown status {status!r}")
            except (ValueError, AttributeError) as exc:
                self.audit.append(
                    AuditEntry(
                        AuditEvent.REJECTED,
                        message_id=mid or None,
                        partner=partner,
                        details={"reason": f"unreadable receipt: {exc}", "queue": self.queue},
                    )
                )
                continue
            reason = receipt.get("reason")
            warnings = [str(w) for w in receipt.get("warnings", [])]
            if mid in taken:  # a second receipt for one acknowledged in this batch
                log.info("duplicate receipt ignored", partner=partner, message_id=mid, status=status)
                continue
            if self.delivery.receipt(mid, status, reason, warnings, m.arrived_us or None, acknowledged):
                taken.add(mid)
                continue
            current = self.state.get(partner, mid)
            if current is not None and current.state in (State.ACKNOWLEDGED, State.FAILED):
                log.info("duplicate receipt ignored", partner=partner, message_id=mid, status=status)
                continue
            if current is None:
                self.audit.append(
                    AuditEntry(
                        AuditEvent.REJECTED,
                        message_id=mid or None,
                        partner=partner,
                        details={"reason": "receipt for a message we never sent", "status": status},
                    )
                )
                continue
            # Sent by another worker, which holds the message: record the outcome for it.
            if status in ("ACK", "WARN"):
                event = AuditEvent.ACKNOWLEDGED if status == "ACK" else AuditEvent.ACKNOWLEDGED_WITH_WARNING
                if not acknowledged_before(self.audit, mid, partner):
                    self.audit.append(
                        AuditEntry(event, message_id=mid, partner=partner, details={"warnings": warnings}),
                        at_us=m.arrived_us or None,
                    )
                work.states.append(
                    Delivery(partner, mid, current.sha256, current.attempt, State.ACKNOWLEDGED)
                )
            else:
                self.audit.append(
                    AuditEntry(
                        AuditEvent.SEND_ATTEMPT_FAILED,
                        message_id=mid,
                        partner=partner,
                        details={"reason": reason or "rejected by the partner"},
                    )
                )
        self.delivery.acknowledge_many(acknowledged, before=keep)
