"""Delivery workers: a partner's work queue -> the partner, exactly once as the partner
sees it. The state table says what was already sent; retries go through TTL queues on
the agreement's schedule; what cannot be delivered goes to the partner's dead letters."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from abc import abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pika.spec import BasicProperties

from exchange.amqp.confirm import ConfirmingPublisher
from exchange.amqp.consumer import Batch, BatchConsumer, Disposition, Message, Work
from exchange.amqp.topology import DLX, FEED_STREAM, RETRY, retry_key
from exchange.archive import Archived, DocumentArchive, Kind
from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.config import Agreement
from exchange.state import Delivery, State, StateStore

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

    def __init__(self, *, agreement: Agreement, **kwargs: Any):
        super().__init__(**kwargs)
        self.agreement = agreement
        self.partner = agreement.partner

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
            sending.add(key)  # a second copy in the same batch (an intake redelivery) is not sent again
            todo.append((work, sent))
        self.before_sending([w for w, sent in todo if not sent])
        for work, sent in todo:
            self.deliver(work, already_sent=sent)

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
    keeps the latest per certificate.

    Exactly once on the stream: SEND_IN_PROGRESS and the state SENT are durable before a
    credential is appended, so a redelivery after a lost connection is known to be uncertain;
    those are held, the stream is read (exchange/amqp/feed_check.py) and only what is not on
    it is appended again. A copy found there is audited ACKNOWLEDGED once."""

    VERIFY_GRACE_S = 2.0
    VERIFY_RETRY_S = 3.0
    OWNER_GRACE_S = 10.0

    def __init__(self, *, url: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.url = url
        """The broker (with the vhost) the stream is read from; None: no check (tests)."""
        self._uncertain: list[Work] = []
        self._verifying = False
        self._claimed_elsewhere: set[int] = set()

    def before_sending(self, works: list[Work]) -> None:
        if self.url is None or not works:
            return
        claimed = self.state.claim_many(
            [
                Delivery(
                    self.partner,
                    w.message.message_id or "",
                    w.message.headers.get("sha256", ""),
                    attempt_of(w.message),
                    State.SENT,
                )
                for w in works
            ]
        )
        for w in works:
            if (w.message.message_id or "") in claimed:
                self.audit.append(self._entry(AuditEvent.SEND_IN_PROGRESS, w.message, stream=FEED_STREAM))
            else:  # another copy of it, on another worker, is being appended: check, never append blindly
                self._claimed_elsewhere.add(w.message.tag)
        self.audit.flush()

    def forget(self) -> None:
        self._uncertain.clear()
        self._claimed_elsewhere.clear()

    def _hold_uncertain(self, work: Work) -> None:
        work.disposition = Disposition.HOLD
        self._uncertain.append(work)
        if not self._verifying:
            self._verifying = True
            self.channel.connection.ioloop.call_later(self.VERIFY_GRACE_S, self._verify)

    def _verify(self) -> None:
        """Off the I/O loop: which uncertain credentials the stream already holds."""
        import threading

        works, self._uncertain = self._uncertain, []
        if not self.alive or not works:
            self._verifying = False
            return
        ioloop = self.channel.connection.ioloop
        ids = {w.message.message_id or "" for w in works}
        on_stream = {feed_id(w.message): w.message.message_id or "" for w in works}

        def check() -> None:
            from exchange.amqp.feed_check import landed

            try:
                latest: dict[str, datetime] = {}
                for mid in ids:
                    for e in self.audit.trace(mid):
                        if e.partner == self.partner and e.event == AuditEvent.SEND_IN_PROGRESS:
                            latest[mid] = max(latest.get(mid, e.time), e.time)
                states = self.state.get_many(self.partner, list(ids))
                since = min(latest.values()) if latest else datetime.now(UTC) - timedelta(minutes=10)
                hits = landed(self.url or "", FEED_STREAM, since, set(on_stream))
                found: set[str] | None = {on_stream[h] for h in hits}
            except Exception as exc:  # the broker again: leave them to a redelivery
                log.warning("feed check failed", error=str(exc))
                found, latest, states = None, {}, {}
            ioloop.add_callback_threadsafe(lambda: self._verified(works, found, latest, states))

        threading.Thread(target=check, name="feed-check", daemon=True).start()

    def _verified(
        self,
        works: list[Work],
        found: set[str] | None,
        latest: dict[str, datetime],
        states: dict[str, Delivery],
    ) -> None:
        """Settle what the check decided. The worker whose append was confirmed audits it; so
        a copy whose last send is recent is left to its sender (who may still be finishing)
        and checked again, and only a send older than OWNER_GRACE_S (its sender lost) is
        audited here or appended again."""
        self._verifying = False
        if not self.alive:
            return
        if found is None:  # the stream cannot be read yet (a node restarting): ask again later
            self._uncertain.extend(works)
        now = datetime.now(UTC)
        on_feed: list[Work] = []
        again: list[Work] = []
        done: list[Work] = []
        for w in works if found is not None else []:
            mid = w.message.message_id or ""
            st = states.get(mid)
            sent = latest.get(mid)
            if st is not None and st.state is State.ACKNOWLEDGED:
                done.append(w)  # its sender finished (and audited it)
            elif sent is not None and (now - sent).total_seconds() < self.OWNER_GRACE_S:
                self._uncertain.append(w)
            elif mid in (found or set()):
                on_feed.append(w)
            else:
                again.append(w)
        if self._uncertain and not self._verifying:
            self._verifying = True
            self.channel.connection.ioloop.call_later(self.VERIFY_RETRY_S, self._verify)
        for w in done:
            self.settle_held(w.message.tag)
        if on_feed:
            audit_first_acknowledgements(
                self.audit,
                self.state,
                [self._done(w.message) for w in on_feed],
                {
                    w.message.message_id or "": (
                        self._entry(AuditEvent.ACKNOWLEDGED, w.message, stream=FEED_STREAM),
                        None,
                    )
                    for w in on_feed
                },
            )
            for w in on_feed:
                self.settle_held(w.message.tag)
        if again:
            log.info("not on the feed: appending again", partner=self.partner, count=len(again))
            from exchange.amqp.consumer import Batch

            for w in again:  # still held until settled: no multiple ack may take them meanwhile
                w.disposition, w.outstanding, w.failure, w.states = Disposition.ACK, 0, None, []
            batch = Batch(again)
            self._batches.append(batch)
            for w in again:
                self._append(w)
            self._drain()

    def _done(self, m: Message) -> Delivery:
        return Delivery(
            self.partner, m.message_id or "", m.headers.get("sha256", ""), attempt_of(m), State.ACKNOWLEDGED
        )

    def deliver(self, work: Work, already_sent: bool) -> None:
        elsewhere = work.message.tag in self._claimed_elsewhere
        self._claimed_elsewhere.discard(work.message.tag)
        if (already_sent or elsewhere) and self.url is not None:
            self._hold_uncertain(work)
            return
        if self.url is None:
            self.audit.append(self._entry(AuditEvent.SEND_IN_PROGRESS, work.message, stream=FEED_STREAM))
        self._append(work)

    def _append_failed(self, work: Work) -> None:
        """Not confirmed (a nack, a lost channel): it may be on the stream all the same, so it
        is checked like a redelivery instead of being sent again (or dead-lettered)."""
        log.warning("feed append unconfirmed", message_id=work.message.message_id, reason=work.failure)
        work.failure, work.states = None, []
        self._hold_uncertain(work)

    def _append(self, work: Work) -> None:
        m = work.message
        if self.url is not None:
            work.on_failure = self._append_failed
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
        self.publish(work, "", FEED_STREAM, m.body, props, on_ok=lambda: self._appended(m, entry))
        work.states.append(self._done(m))

    def _appended(self, m: Message, entry: AuditEntry) -> None:
        """Confirmed. A late confirm (a node failing meanwhile) is audited at once, unless
        another worker, checking the stream after OWNER_GRACE_S, already did: so one entry,
        whichever of the two comes first."""
        if self.url is None or time.perf_counter() - m.received < self.OWNER_GRACE_S / 2:
            self.audit.append(entry)
            return
        audit_first_acknowledgements(
            self.audit, self.state, [self._done(m)], {m.message_id or "": (entry, None)}
        )


APP_ID = "mra-exchange"


def feed_id(m: Message) -> str:
    """The message-id a work message has once on the feed: its credential id when issued."""
    return _text(m.headers.get("credential-id")) or m.message_id or ""


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

    def acknowledge_many(self, items: list[Acknowledged]) -> None:
        """Receipts that say the partner has our messages: audited and durable (one flush,
        one state write for them all), then the held work messages are acknowledged."""
        if not items:
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
        if self.archive is not None:  # the evidence first, as the partner sent it: one write per batch
            self.archive.put_many(
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
            )
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
        self.delivery.acknowledge_many(acknowledged)
