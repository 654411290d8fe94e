"""SubmitDocument: a partner's own record in its own format, checked and handed on.

claim the partner's message id (DUPLICATE) -> RECEIVED -> signature (if signed, or if
the agreement requires one: over the root itself, docs/signatures.md) -> partner schema
(as received, signature in place) and reverse mapping of what is signed -> scope -> VALIDATED
-> audit durable -> handoff to domestic systems (confirmed) -> DELIVERED_DOMESTIC ->
signed receipt. A refusal frees the message id for a corrected document, a failure on our
side for a retry; once handed over, the id is taken for good (a lost receipt is found
again with GetDeliveryStatus on the message id the DUPLICATE fault names).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import partial

from lxml import etree

from exchange.audit import AuditEntry, AuditEvent
from exchange.errors import DocumentError, RecordError
from exchange.intake import CanonicalRecord
from exchange.model import CertScheme, ProductCertificate
from exchange.service.topology import DOMESTIC_OUT
from exchange.signing import SignatureInvalid, has_signature, verify_enveloped
from exchange.soap.context import Call, Services, element
from exchange.soap.faults import FaultCode, Problem, SoapFault, problems_of
from exchange.soap.handoff import DomesticRecord, HandoffError
from exchange.xml.safe import parse_bytes


def submit_document(svc: Services, call: Call) -> etree._Element:
    partner, ours = call.partner, call.request_id
    theirs = call.text("MessageId") or ""
    data = _decode(call.text("Document") or "", svc)
    sha = hashlib.sha256(data).hexdigest()
    earlier = svc.store.reserve_submission(partner, theirs, ours, sha)
    if earlier is not None:
        raise SoapFault(
            FaultCode.DUPLICATE,
            f"message {theirs} was already submitted (our message id {earlier})",
            details={"partnerMessageId": theirs, "original": earlier},
        )
    try:
        record = _hand_over(svc, call, theirs, data, sha)
    except SoapFault as fault:
        if fault.sender:  # refused: a corrected document may come under the same id
            svc.store.finish_submission(partner, theirs, accepted=False)
        else:
            svc.store.release_submission(partner, theirs, ours)
        raise
    except BaseException:  # our failure: the partner's retry must not be a duplicate
        svc.store.release_submission(partner, theirs, ours)
        raise
    svc.store.finish_submission(partner, theirs, accepted=True)
    receipt = element(
        "Receipt",
        ("MessageId", ours),
        ("PartnerMessageId", theirs),
        ("Partner", partner),
        ("Kind", record.kind.value),
        ("RecordId", record.record_id),
        ("DocumentSha256", sha),
        ("ReceivedAt", svc.now()),
        ("Status", AuditEvent.DELIVERED_DOMESTIC.value),
    )
    response = element("SubmitDocumentResponse")
    response.append(svc.signer.sign(receipt, id_value=f"receipt-{ours}"))
    return response


def _hand_over(svc: Services, call: Call, theirs: str, data: bytes, sha: str) -> CanonicalRecord:
    """RECEIVED -> checked -> VALIDATED -> (durable) -> handed over -> DELIVERED_DOMESTIC."""
    entry = partial(
        AuditEntry, message_id=call.request_id, partner=call.partner, actor=call.actor, doc_sha256=sha
    )
    details = {"transport": "soap", "partnerMessageId": theirs, "bytes": len(data)}
    svc.audit.append(entry(AuditEvent.RECEIVED, details=details))
    record, signed = _read(svc, call, data)
    entry = partial(entry, record_id=record.record_id)
    svc.audit.append(entry(AuditEvent.VALIDATED, details={"kind": record.kind.value, "signed": signed}))
    item = DomesticRecord(call.partner, call.request_id, theirs, record)
    svc.audit.flush()  # what domestic systems receive is on the record first
    try:
        svc.handoff(item)
    except HandoffError as exc:
        raise SoapFault(
            FaultCode.UNAVAILABLE, f"domestic systems cannot take the record now: {exc}"
        ) from None
    done = {"exchange": DOMESTIC_OUT, "routingKey": item.routing_key}
    svc.audit.append(entry(AuditEvent.DELIVERED_DOMESTIC, details=done))
    return record


def _decode(text: str, svc: Services) -> bytes:
    """base64 -> bytes (xs:base64Binary allows whitespace); size capped before parsing."""
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SoapFault(FaultCode.MALFORMED, "Document is not valid base64") from None
    if len(data) > svc.document_limits.max_bytes:
        raise SoapFault(
            FaultCode.TOO_LARGE,
            f"the document is {len(data)} bytes, the limit is {svc.document_limits.max_bytes}",
        )
    return data


def _read(svc: Services, call: Call, data: bytes) -> tuple[CanonicalRecord, bool]:
    """Untrusted bytes -> canonical record, or the fault that says why not."""
    fmt = svc.formats[call.partner]
    try:
        root = parse_bytes(data, limits=svc.document_limits)
    except DocumentError as exc:
        raise SoapFault(FaultCode.MALFORMED, f"the document is refused: {exc.reason}") from None
    if etree.QName(root).namespace not in fmt.namespaces():
        raise SoapFault(
            FaultCode.SCHEMA_INVALID,
            f"the root element {etree.QName(root).text} is not a {call.partner} document",
            problems=[Problem("unknown document type", path=f"/{root.tag}")],
        )
    signed = has_signature(root)
    cert = call.credential.certificate
    if signed:
        if cert is None:
            raise SoapFault(
                FaultCode.SIGNATURE_INVALID,
                f"the document is signed but no certificate is configured for {call.partner}",
            )
        try:
            content = verify_enveloped(root, cert)
        except SignatureInvalid as exc:
            raise SoapFault(FaultCode.SIGNATURE_INVALID, str(exc)) from None
    elif call.credential.require_signature:
        raise SoapFault(
            FaultCode.SIGNATURE_INVALID, f"the {call.partner} agreement requires signed documents"
        )
    try:
        if signed:  # valid as received, signature in place; then read only what it covers
            fmt.check_bytes(data)
            data = etree.tostring(content, xml_declaration=True, encoding="utf-8")
        record = fmt.parse(data)
    except DocumentError as exc:
        code = FaultCode.SCHEMA_INVALID if exc.messages else FaultCode.MALFORMED
        raise SoapFault(code, f"the document is refused: {exc.reason}", problems=problems_of(exc)) from None
    except RecordError as exc:
        raise SoapFault(
            FaultCode.RECORD_INVALID,
            f"the document does not make a valid record: {exc}",
            problems=[Problem(exc.reason, path=exc.field)],
        ) from None
    _check_scope(svc, call, record)
    return record, signed


def _check_scope(svc: Services, call: Call, record: CanonicalRecord) -> None:
    agreement = svc.config.partners[call.partner]
    if record.kind not in agreement.families:
        raise SoapFault(
            FaultCode.OUT_OF_SCOPE, f"the {call.partner} agreement does not cover {record.kind} records"
        )
    if isinstance(record, ProductCertificate) and record.scheme is CertScheme.CCC:
        raise SoapFault(
            FaultCode.OUT_OF_SCOPE,
            "CCC certificates are issued in China: partners submit certificates of their own schemes",
        )
