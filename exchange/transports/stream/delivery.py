"""The stream transport: deliveries appended to the feed stream that consumers read at their own
pace (no receipts: appended is delivered)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pika.spec import BasicProperties

from exchange.audit import AuditEntry, AuditEvent
from exchange.service.consumer import Disposition, Message, Work
from exchange.service.delivery import (
    PartnerDelivery,
    attempt_of,
    audit_first_acknowledgements,
    forward_properties,
)
from exchange.service.topology import FEED_STREAM
from exchange.state import Delivery, State

log = structlog.get_logger("exchange.transports.stream.delivery")


class FeedDelivery(PartnerDelivery):
    """Belt-and-Road: append the credential to the bri.feed stream; appended = delivered.

    An issued credential (the intake issued and signed it: header credential-id) goes out
    as one version: message-id = the credential id, the time it is appended, app-id, its
    media type (application/vc+jwt) and the certificate it is a version of, so a consumer
    keeps the latest per certificate.

    Exactly once on the stream: SEND_IN_PROGRESS and the state SENT are durable before a
    credential is appended, so a redelivery after a lost connection is known to be uncertain;
    those are held, the stream is read (exchange/transports/stream/feed_check.py) and only what is not on
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
            from exchange.transports.stream.feed_check import landed

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
            from exchange.service.consumer import Batch

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
