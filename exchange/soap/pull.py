"""Pull partners (NZ): their documents wait in the outbox until the partner pulls and
acknowledges them through the SOAP endpoint (ListPending, PullDocument,
AcknowledgeDocument, in the manner of the ePhyto hub). This worker moves documents from
the partner's work queue into that outbox, once each."""

from __future__ import annotations

from typing import Any

from exchange.amqp.consumer import Work
from exchange.amqp.delivery import PartnerDelivery, attempt_of
from exchange.audit import AuditEvent
from exchange.model import Kind
from exchange.soap.store import SoapStore
from exchange.state import Delivery, State


class PullOutboxDelivery(PartnerDelivery):
    def __init__(self, *, outbox: SoapStore, **kwargs: Any):
        super().__init__(**kwargs)
        self.outbox = outbox

    def deliver(self, work: Work, already_sent: bool) -> None:
        m = work.message
        mid = m.message_id or ""
        kind = Kind(m.properties.type or "ccc")
        try:
            self.outbox.enqueue_for_pull(self.partner, mid, kind, str(m.headers.get("record-id", "")), m.body)
        except ValueError as exc:  # the id is taken by another document: never overwrite
            self.dead_letter(work, "mra.dlx", self.partner, str(exc), partner=self.partner)
            return
        self.audit.append(self._entry(AuditEvent.WAITING_FOR_RECEIPT, m, mode="pull", outbox="soap_outbox"))
        work.states.append(
            Delivery(self.partner, mid, m.headers.get("sha256", ""), attempt_of(m), State.SENT)
        )
