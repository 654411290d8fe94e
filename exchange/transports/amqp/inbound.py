"""Partners' own records (KC certificates, PT results) coming in over AMQP: validated
against the partner's schema, reverse-mapped, handed to domestic systems as canonical
JSON on cn.domestic.out, every step audited; bad ones parked on mra.rejects."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any

from pika.spec import BasicProperties

from exchange.audit import AuditEntry, AuditEvent
from exchange.errors import DocumentError, RecordError
from exchange.partner import PartnerFormat
from exchange.service.consumer import BatchConsumer, Work
from exchange.service.topology import DLX, DOMESTIC_OUT
from exchange.state import Delivery, State


class PartnerRecordsConsumer(BatchConsumer):
    def __init__(self, *, partner: str, format: PartnerFormat, domestic_publisher: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.partner = partner
        self.format = format
        self.domestic_publisher = domestic_publisher
        self.scope = f"{partner}.in"

    def handle(self, works: list[Work]) -> None:
        ids = [w.message.message_id for w in works if w.message.message_id]
        seen = self.state.get_many(self.scope, ids)
        for work in works:
            m = work.message
            mid = m.message_id
            sha = hashlib.sha256(m.body).hexdigest()
            if mid and mid in seen and seen[mid].sha256 == sha:
                continue  # a redelivery of something already handed over
            if not mid:
                mid = None
            entry = partial(AuditEntry, message_id=mid, partner=self.partner, doc_sha256=sha)
            self.audit.append(entry(AuditEvent.RECEIVED, details={"queue": self.queue}))
            try:
                if not mid:
                    raise RecordError("the message has no message_id property", field="message_id")
                record = self.format.parse(m.body)
            except (DocumentError, RecordError) as exc:
                field = getattr(exc, "field", None)
                self.audit.append(entry(AuditEvent.REJECTED, details={"reason": str(exc), "field": field}))
                headers = {
                    "x-mra-reason": str(exc)[:1000],
                    "x-mra-partner": self.partner,
                    "x-mra-field": field or "",
                }
                props = BasicProperties(
                    delivery_mode=2, message_id=mid, content_type=m.properties.content_type, headers=headers
                )
                self.publish(work, DLX, "rejects", m.body, props)
                if mid:
                    work.states.append(Delivery(self.scope, mid, sha, 0, State.DONE))
                continue
            record_id = record.record_id
            self.audit.append(
                entry(AuditEvent.VALIDATED, record_id=record_id, details={"kind": record.kind.value})
            )
            payload = json.dumps(
                record.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False
            ).encode()
            props = BasicProperties(
                delivery_mode=2,
                message_id=f"{self.partner}:{mid}",
                type=record.kind.value,
                content_type="application/json",
                headers={"partner": self.partner, "record-id": record_id},
            )
            done = entry(
                AuditEvent.DELIVERED_DOMESTIC,
                record_id=record_id,
                details={"exchange": DOMESTIC_OUT, "routingKey": f"{self.partner}.{record.kind}"},
            )
            self.publish(
                work,
                DOMESTIC_OUT,
                f"{self.partner}.{record.kind}",
                payload,
                props,
                on_ok=self.audit_later(done),
                publisher=self.domestic_publisher,
            )
            work.states.append(Delivery(self.scope, mid, sha, 0, State.DONE))
