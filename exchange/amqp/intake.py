"""Intake worker: domestic records from cn.domestic.in become validated partner
documents on the partners' work queues. Parse once, convert once per partner."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any, Protocol

import structlog
from pika.spec import BasicProperties

from exchange.amqp.consumer import BatchConsumer, Disposition, Work
from exchange.amqp.topology import DLX, OUTBOUND
from exchange.audit import AuditEntry, AuditEvent
from exchange.errors import RecordError
from exchange.intake import Accepted, CanonicalRecord, Source
from exchange.model import Kind
from exchange.pipeline import Converter
from exchange.state import Delivery, State

log = structlog.get_logger("exchange.amqp.intake")
SCOPE = "intake"
SOURCE = "amqp:cn.domestic.in"


def partners_header(headers: dict[str, Any]) -> list[str] | None:
    """The `partners` header: a list (or comma-separated text); absent or empty = all."""
    raw = headers.get("partners")
    if raw is None:
        return None
    if isinstance(raw, (bytes, str)):
        text = raw.decode() if isinstance(raw, bytes) else raw
        items = [p.strip() for p in text.split(",") if p.strip()]
    else:
        items = [p.decode() if isinstance(p, bytes) else str(p) for p in raw]
    return items or None


class CertificateLedger(Protocol):
    """Where the latest status of every certificate seen is kept (VerifyCertificate)."""

    def record_certificates(self, records: list[CanonicalRecord]) -> None: ...


class IntakeWorker(BatchConsumer):
    def __init__(
        self,
        *,
        converter: Converter,
        source: Source,
        certificates: CertificateLedger | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.converter = converter
        self.source = source
        self.certificates = certificates
        self.partners = {r.agreement.partner for r in converter.routes}

    def handle(self, works: list[Work]) -> None:
        ids = [w.message.message_id for w in works if w.message.message_id]
        seen = self.state.get_many(SCOPE, ids)
        in_batch: dict[str, str] = {}
        self._accepted: list[CanonicalRecord] = []
        for work in works:
            try:
                self._one(work, seen, in_batch)
            except Exception as exc:  # a poison message: never loop, never lose it
                log.exception("intake failed", message_id=work.message.message_id)
                reason = f"{type(exc).__name__}: {exc}"
                if work.message.last_chance:
                    self.dead_letter(work, DLX, "intake", f"processing failed: {reason}")
                else:
                    work.disposition = Disposition.REQUEUE
                    work.failure = reason
        if self.certificates is not None and self._accepted:
            self.certificates.record_certificates(self._accepted)

    def _one(self, work: Work, seen: dict[str, Delivery], in_batch: dict[str, str]) -> None:
        m = work.message
        sha = hashlib.sha256(m.body).hexdigest()
        if not m.message_id:
            self._reject(work, None, None, "message_id", "the message has no message_id property")
            return
        mid = m.message_id
        previous = seen.get(mid)
        earlier_sha = previous.sha256 if previous is not None else in_batch.get(mid)
        if earlier_sha is not None:
            if earlier_sha == sha:
                self.audit.append(
                    AuditEntry(
                        AuditEvent.REJECTED,
                        message_id=mid,
                        details={
                            "reason": "duplicate message id, same content: already processed",
                            "duplicate": True,
                        },
                    )
                )
            else:
                self._reject(work, mid, None, "message_id", "message id already used for different content")
            return
        in_batch[mid] = sha
        kind_text = m.properties.type or m.routing_key
        try:
            kind = Kind(kind_text)
        except ValueError:
            self._reject(
                work, mid, None, "type", f"unknown record type {kind_text!r} (expected ccc, glp or pt)"
            )
            return
        wanted = partners_header(m.headers)
        unknown = sorted(set(wanted or ()) - self.partners)
        try:
            record = self.source.parse_message(m.body, kind=kind, source=f"{SOURCE} {mid}")
        except RecordError as exc:
            self._reject(work, mid, exc.record_id, exc.field, exc.reason)
            return
        record_id = record.record_id
        self._accepted.append(record)
        self.audit.append(
            AuditEntry(
                AuditEvent.RECEIVED,
                message_id=mid,
                record_id=record_id,
                doc_sha256=sha,
                details={
                    "kind": kind.value,
                    "source": SOURCE,
                    "partners": wanted or "all",
                    "unknownPartners": unknown,
                },
            )
        )
        result = self.converter.convert(Accepted(record, SOURCE, mid), only=wanted)
        for doc in result.converted:
            entry = partial(AuditEntry, message_id=mid, record_id=record_id, partner=doc.partner)
            self.audit.append(
                entry(AuditEvent.CONVERTED, doc_sha256=doc.sha256, details={"kind": kind.value})
            )
            self.audit.append(entry(AuditEvent.VALIDATED, doc_sha256=doc.sha256))
            props = BasicProperties(
                delivery_mode=2,
                message_id=mid,
                type=kind.value,
                content_type=doc.media_type,
                headers={"partner": doc.partner, "record-id": record_id, "sha256": doc.sha256, "attempt": 0},
            )
            enqueued = entry(
                AuditEvent.SEND_ENQUEUED, doc_sha256=doc.sha256, details={"queue": f"mra.{doc.partner}.work"}
            )
            self.publish(work, OUTBOUND, doc.partner, doc.document, props, on_ok=self.audit_later(enqueued))
        for skipped in result.skipped:
            log.info("out of scope", message_id=mid, partner=skipped.partner, reason=skipped.reason)
        for reject in result.rejects:
            self._reject(work, mid, reject.record_id, reject.field, reject.reason, partner=reject.partner)
        work.states.append(Delivery(SCOPE, mid, sha, 0, State.DONE))

    def _reject(
        self,
        work: Work,
        mid: str | None,
        record_id: str | None,
        field: str | None,
        reason: str,
        partner: str | None = None,
    ) -> None:
        """Bad input: audited with its reason and parked on mra.rejects, never retried."""
        self.audit.append(
            AuditEntry(
                AuditEvent.REJECTED,
                message_id=mid,
                record_id=record_id,
                partner=partner,
                details={"field": field, "reason": reason, "source": SOURCE},
            )
        )
        m = work.message
        headers = dict(m.headers)
        headers.update(
            {"x-mra-reason": reason[:1000], "x-mra-field": field or "", "x-mra-partner": partner or ""}
        )
        props = BasicProperties(
            delivery_mode=2,
            message_id=mid,
            type=m.properties.type,
            content_type=m.properties.content_type,
            headers=headers,
        )
        self.publish(work, DLX, "rejects", m.body, props)
        if mid and partner is None:
            work.states.append(Delivery(SCOPE, mid, hashlib.sha256(m.body).hexdigest(), 0, State.DONE))
