"""The amqp transport's workers: deliveries published to the partner's own vhost, held until
its receipt (or a timeout) says what happened, and the consumer of those receipts."""

from __future__ import annotations

import hashlib
import json
import time
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
    audit_first_acknowledgements,
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

    SWEEP_S = 1.0
    """How often held messages are checked against the state store (see _sweep)."""

    def start(self) -> None:
        super().start()
        self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        if self.alive and self.channel.is_open:
            self.channel.connection.ioloop.call_later(self.SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        """Several workers share one reply queue, so a receipt often reaches a worker that
        does not hold the message: that one records the acknowledgement, and the holder
        settles it here, from the state store, instead of waiting for the receipt timeout."""
        if not self.alive:
            return
        if self.awaiting:
            states = self.state.get_many(self.partner, list(self.awaiting))
            now = time.perf_counter()
            for mid, st in states.items():
                works = self.awaiting.get(mid, [])
                if st.state is State.ACKNOWLEDGED:
                    for w in self._forget(mid):
                        self.settle_held(w.message.tag)
                elif works and now - works[0].message.received > self.SWEEP_AUDIT_AFTER_S:
                    self._acknowledged_in_trail(mid, st)
        self._schedule_sweep()

    SWEEP_AUDIT_AFTER_S = 5.0

    def _acknowledged_in_trail(self, mid: str, st: Delivery) -> bool:
        """A worker that audited the receipt but was lost before writing the state: the
        trail says ACKNOWLEDGED, so the redelivered message waits for no second receipt
        (waiting would time out and send the partner a second copy)."""
        if not acknowledged_before(self.audit, mid, self.partner):
            return False
        self.state.put_many([Delivery(self.partner, mid, st.sha256, st.attempt, State.ACKNOWLEDGED)])
        for w in self._forget(mid):
            self.settle_held(w.message.tag)
        return True

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
        if current is not None:
            self.awaiting[mid] = works
            if self._acknowledged_in_trail(mid, current):
                return
            self.awaiting.pop(mid, None)
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
        entries: dict[str, tuple[AuditEntry, int | None]] = {}
        for item in items:
            first = item.works[0].message
            mid = first.message_id or ""
            self._resent.discard(mid)
            ack = AuditEvent.ACKNOWLEDGED if item.status == "ACK" else AuditEvent.ACKNOWLEDGED_WITH_WARNING
            entries[mid] = (self._entry(ack, first, warnings=item.warnings), item.arrived_us)
            sha = first.headers.get("sha256", "")
            rows.append(Delivery(self.partner, mid, sha, attempt_of(first), State.ACKNOWLEDGED))

        def write() -> None:
            if before is not None:
                before()
            audit_first_acknowledgements(self.audit, self.state, rows, entries)

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
        self._for_others: dict[int, tuple[list[Delivery], dict[str, tuple[AuditEntry, int | None]]]] = {}
        """Per batch: acknowledgements of messages another worker holds, audited with the batch."""

    def keep(self, batch: Batch) -> None:
        rows, entries = self._for_others.pop(id(batch), ([], {}))
        if rows:
            audit_first_acknowledgements(self.audit, self.state, rows, entries)

    def forget(self) -> None:
        self._for_others.clear()

    def _record_of(self, mid: str) -> str | None:
        """The record a message carries, from the trail (the receipt does not say), so that
        `exchange audit trace RECORD` shows the acknowledgement whichever worker took it."""
        return next((e.record_id for e in self.audit.trace(mid) if e.record_id), None)

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
                others = self._for_others.setdefault(id(work.batch), ([], {}))
                others[0].append(Delivery(partner, mid, current.sha256, current.attempt, State.ACKNOWLEDGED))
                others[1][mid] = (
                    AuditEntry(
                        event,
                        message_id=mid,
                        record_id=self._record_of(mid),
                        partner=partner,
                        details={"warnings": warnings},
                    ),
                    m.arrived_us or None,
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
