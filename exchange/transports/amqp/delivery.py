"""The amqp transport's workers: deliveries published to the partner's own vhost, held until
its receipt (or a timeout) says what happened, and the consumer of those receipts."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from exchange.archive import Archived, DocumentArchive, Kind
from exchange.audit import AuditEntry, AuditEvent
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.consumer import Batch, BatchConsumer, Disposition, Work
from exchange.service.delivery import (
    Acknowledged,
    PartnerDelivery,
    acknowledged_before,
    attempt_of,
    forward_properties,
)
from exchange.state import Delivery, State

log = structlog.get_logger("exchange.amqp.delivery")


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
