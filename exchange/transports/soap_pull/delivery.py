"""Pull partners (NZ): their documents wait in the outbox until the partner pulls and
acknowledges them through the SOAP endpoint (ListPending, PullDocument,
AcknowledgeDocument, in the manner of the ePhyto hub). This worker moves documents from
the partner's work queue into that outbox, once each, signed with our key (as pushed
documents are) when the service has one: the partner can prove what we published."""

from __future__ import annotations

import hashlib
from typing import Any

from lxml import etree

from exchange.audit import AuditEvent
from exchange.errors import ExchangeError
from exchange.model import Kind
from exchange.registry import partner_format
from exchange.service.consumer import Work
from exchange.service.delivery import PartnerDelivery, attempt_of
from exchange.service.store import SoapStore
from exchange.signing import Signer, sign_document
from exchange.state import Delivery, State


class PullOutboxDelivery(PartnerDelivery):
    def __init__(self, *, outbox: SoapStore, signer: Signer | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.outbox = outbox
        self.signer = signer

    def deliver(self, work: Work, already_sent: bool) -> None:
        m = work.message
        mid = m.message_id or ""
        kind = Kind(m.properties.type or "ccc")
        waiting = self.outbox.outbox_entry(mid) if self.signer is not None else None
        if waiting is None or waiting.partner != self.partner:
            # (An entry of ours is there when a restart came between the outbox and the state
            # write: signing again would give other bytes, EC signatures being randomised.)
            try:
                document = self._signed(m.body, mid)
            except (ExchangeError, etree.LxmlError, ValueError) as exc:
                self.dead_letter(work, "mra.dlx", self.partner, f"cannot sign: {exc}", partner=self.partner)
                return
            try:
                self.outbox.enqueue_for_pull(
                    self.partner, mid, kind, str(m.headers.get("record-id", "")), document
                )
            except ValueError as exc:  # the id is taken by another document: never overwrite
                self.dead_letter(work, "mra.dlx", self.partner, str(exc), partner=self.partner)
                return
            if document is not m.body:
                signed = hashlib.sha256(document).hexdigest()
                self.audit.append(self._entry(AuditEvent.SIGNED, m, signedSha256=signed))
        self.audit.append(self._entry(AuditEvent.WAITING_FOR_RECEIPT, m, mode="pull", outbox="soap_outbox"))
        work.states.append(
            Delivery(self.partner, mid, m.headers.get("sha256", ""), attempt_of(m), State.SENT)
        )

    def _signed(self, document: bytes, message_id: str) -> bytes:
        """Our enveloped signature over the document, by reference to its Id (`doc-` + the
        message id), checked again against the partner's schema as the partner will pull
        it; as it is without a key or when signed."""
        if self.signer is None:
            return document
        data = sign_document(self.signer, document, message_id)
        if data is not document:
            partner_format(self.agreement).check_bytes(data)
        return data
