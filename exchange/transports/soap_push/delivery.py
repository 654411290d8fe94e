"""The delivery worker for push partners over SOAP (agreement transport = "soap").

The work message is held while the SOAP call runs in a small thread pool, so a slow
partner never stalls the pika I/O loop; the outcome comes back to the loop thread with
`add_callback_threadsafe`, where the audit, the state table and the broker are touched.
Audited transitions per attempt: SEND_IN_PROGRESS → (the partner answered)
WAITING_FOR_RECEIPT → ACKNOWLEDGED | ACKNOWLEDGED_WITH_WARNING, or SEND_ATTEMPT_FAILED →
WAITING_FOR_RETRY | SEND_FAILURE (PartnerDelivery.failed_attempt, the agreement's schedule).

A redelivered message is sent again rather than parked: the partner answers a MessageId
it already acknowledged with its first receipt and processes nothing twice (its WSDL says
so), which is how a receipt lost with a connection is recovered.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import structlog

from exchange.audit import AuditEvent
from exchange.service.consumer import Batch, Disposition, Work
from exchange.service.delivery import PartnerDelivery, acknowledged_before, attempt_of
from exchange.state import Delivery, State
from exchange.transports.soap_push.outbound import OutboundClient, Outcome, SendResult

log = structlog.get_logger("exchange.soap.delivery")


class SoapPartnerDelivery(PartnerDelivery):
    def __init__(
        self,
        *,
        client: OutboundClient,
        pool: ThreadPoolExecutor | None = None,
        max_calls: int = 4,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.client = client
        self._own_pool = pool is None
        self.pool = pool or ThreadPoolExecutor(
            max_workers=max_calls, thread_name_prefix=f"soap-{self.partner}"
        )
        self.in_flight = 0
        self._early: dict[int, Callable[[], None]] = {}
        """Outcomes that came back before their batch was settled (tag not held yet)."""

    @property
    def idle_except_held(self) -> bool:
        """At shutdown, let calls in flight finish (bounded by the client's timeout)."""
        return super().idle_except_held and self.in_flight == 0

    def dead(self) -> None:
        super().dead()
        self._early.clear()

    def close(self) -> None:
        """Stop the pool (only ours): calls in flight finish, their outcomes are dropped."""
        if self._own_pool:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def before_sending(self, works: list[Work]) -> None:
        self.mark_sent(works)

    def deliver(self, work: Work, already_sent: bool) -> None:
        m = work.message
        mid = m.message_id or ""
        work.disposition = Disposition.HOLD
        self.audit.append(
            self._entry(
                AuditEvent.SEND_IN_PROGRESS,
                m,
                url=self.client.settings.url,
                attempt=attempt_of(m),
                **({"resend": True} if already_sent else {}),
            )
        )
        headers = m.headers
        conversation = str(headers.get("conversation-id") or headers.get("record-id") or mid)
        ref_to = headers.get("ref-to-message-id")
        ioloop = self.channel.connection.ioloop
        self.in_flight += 1
        future = self.pool.submit(
            self.client.send,
            m.body,
            message_id=mid,
            conversation_id=conversation,
            ref_to=None if ref_to is None else str(ref_to),
        )

        def back(f: Future[SendResult]) -> None:  # a pool thread: hand over to the loop
            try:
                ioloop.add_callback_threadsafe(lambda: self._returned(work, f))
            except Exception as exc:  # the connection is gone: the message comes back by itself
                log.warning("outcome dropped", partner=self.partner, message_id=mid, error=str(exc))

        future.add_done_callback(back)

    def _returned(self, work: Work, future: Future[SendResult]) -> None:
        self.in_flight -= 1
        if not self.alive:
            return
        try:
            result = future.result()
        except Exception as exc:  # a bug in the client must not lose the message
            result = SendResult(Outcome.FAILED, f"outbound client error: {type(exc).__name__}: {exc}")
        tag = work.message.tag
        if tag not in self._held:
            self._early[tag] = lambda: self._resolve(work, result)
            return
        self._resolve(work, result)

    def _settle_batch(self, batch: Batch) -> None:
        super()._settle_batch(batch)
        for w in batch.works:
            early = self._early.pop(w.message.tag, None)
            if early is not None and w.message.tag in self._held:
                early()

    def _resolve(self, work: Work, result: SendResult) -> None:
        m = work.message
        if result.answered:
            self.audit.append(self._entry(AuditEvent.WAITING_FOR_RECEIPT, m, receiptId=result.receipt_id))
        if result.delivered:
            event = (
                AuditEvent.ACKNOWLEDGED
                if result.outcome is Outcome.ACKNOWLEDGED
                else AuditEvent.ACKNOWLEDGED_WITH_WARNING
            )
            if not acknowledged_before(self.audit, m.message_id, self.partner):
                self.audit.append(
                    self._entry(event, m, receiptId=result.receipt_id, warnings=list(result.warnings))
                )
            self.audit.flush()
            self.state.put_many(
                [
                    Delivery(
                        self.partner,
                        m.message_id or "",
                        m.headers.get("sha256", ""),
                        attempt_of(m),
                        State.ACKNOWLEDGED,
                    )
                ]
            )
            self.settle_held(m.tag)
            return
        self._held.pop(m.tag, None)
        self.failed_attempt(work, f"{result.outcome.value}: {result.reason or 'no reason given'}")
        work.disposition = Disposition.ACK
        self._batches.append(Batch([work]))  # settled once its retry (or dead letter) is confirmed
        self._drain()
