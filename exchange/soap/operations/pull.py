"""ListPending, PullDocument, AcknowledgeDocument: the pull side, in the manner of the
ePhyto hub. A partner sees, pulls and acknowledges only its own documents; another
partner's is answered exactly as an id that does not exist (UNKNOWN_DOCUMENT, same text,
same work), so nobody learns which ids exist, and audited under no partner (see
SoapFault.foreign) with the owner named for our own investigators.

PENDING --pull--> DOWNLOADED (audited DOWNLOADED; may be pulled again) --acknowledge-->
ACKNOWLEDGED (ACKNOWLEDGED or ACKNOWLEDGED_WITH_WARNING) or FAILED (SEND_FAILURE, reason).
"""

from __future__ import annotations

import base64

from lxml import etree

from exchange.audit import AuditEntry, AuditEvent
from exchange.model import Kind
from exchange.service.store import OutboxEntry, PullState
from exchange.soap import ns
from exchange.soap.context import Call, Services, add, element
from exchange.soap.faults import FaultCode, Problem, SoapFault

DEFAULT_MAX_RESULTS = 100
_OUTCOMES = {
    "OK": (PullState.ACKNOWLEDGED, AuditEvent.ACKNOWLEDGED),
    "WARNINGS": (PullState.ACKNOWLEDGED, AuditEvent.ACKNOWLEDGED_WITH_WARNING),
    "FAILED": (PullState.FAILED, AuditEvent.SEND_FAILURE),
}


def list_pending(svc: Services, call: Call) -> etree._Element:
    kind_text = call.text("Kind")
    limit = int(call.text("MaxResults") or DEFAULT_MAX_RESULTS)
    entries, more = svc.store.pending(call.partner, None if kind_text is None else Kind(kind_text), limit)
    response = element("ListPendingResponse")
    for e in entries:
        item = etree.SubElement(response, ns.mra("PendingDocument"))
        add(
            item,
            ("MessageId", e.message_id),
            ("Kind", e.kind.value),
            ("RecordId", e.record_id),
            ("State", e.state.value),
            ("EnqueuedAt", e.enqueued_at),
            ("Size", e.size),
            ("DocumentSha256", e.sha256),
        )
    add(response, ("More", more))
    return response


def own_entry(svc: Services, call: Call, message_id: str) -> OutboxEntry:
    """The caller's document, or UNKNOWN_DOCUMENT alike for none and another partner's."""
    entry = svc.store.outbox_entry(message_id)
    if entry is None or entry.partner != call.partner:
        foreign = entry is not None
        raise SoapFault(
            FaultCode.UNKNOWN_DOCUMENT,
            f"no document {message_id} waits to be pulled by {call.partner}",
            message_id=message_id if foreign else None,
            foreign=foreign,
            details={"owner": entry.partner} if entry is not None else {},
        )
    return entry


def pull_document(svc: Services, call: Call) -> etree._Element:
    message_id = call.text("MessageId") or ""
    entry = own_entry(svc, call, message_id)
    if entry.state not in (PullState.PENDING, PullState.DOWNLOADED):
        raise SoapFault(
            FaultCode.INVALID_STATE, f"document {message_id} is {entry.state}: nothing waits to be pulled"
        )
    pulled = svc.store.pull(message_id)
    assert pulled is not None  # entries are never deleted
    entry, document = pulled
    svc.audit.append(
        AuditEntry(
            AuditEvent.DOWNLOADED,
            message_id=message_id,
            record_id=entry.record_id,
            partner=call.partner,
            actor=call.actor,
            doc_sha256=entry.sha256,
            details={"transport": "soap", "requestId": call.request_id},
        )
    )
    return element(
        "PullDocumentResponse",
        ("MessageId", message_id),
        ("Kind", entry.kind.value),
        ("RecordId", entry.record_id),
        ("DocumentSha256", entry.sha256),
        ("Document", base64.b64encode(document).decode("ascii")),
    )


def acknowledge_document(svc: Services, call: Call) -> etree._Element:
    message_id = call.text("MessageId") or ""
    outcome = call.text("Outcome") or ""
    reason = call.text("Reason")
    warnings = call.texts("Warning")
    state, event = _OUTCOMES[outcome]
    if outcome == "FAILED" and not reason:
        raise SoapFault(
            FaultCode.SCHEMA_INVALID,
            "a FAILED acknowledgement needs a Reason",
            problems=[
                Problem("Reason is required when Outcome is FAILED", path="AcknowledgeDocument/Reason")
            ],
            message_id=message_id,
        )
    entry = own_entry(svc, call, message_id)
    if entry.state is PullState.PENDING:
        raise SoapFault(
            FaultCode.INVALID_STATE, f"document {message_id} has not been pulled yet", message_id=message_id
        )
    if svc.store.settle(message_id, state, reason):
        details: dict[str, object] = {"transport": "soap", "requestId": call.request_id}
        if reason:
            details["reason"] = reason
        if warnings:
            details["warnings"] = warnings
        svc.audit.append(
            AuditEntry(
                event,
                message_id=message_id,
                record_id=entry.record_id,
                partner=call.partner,
                actor=call.actor,
                details=details,
            )
        )
    else:  # acknowledged already (perhaps a retry, perhaps a concurrent call): same verdict is fine
        current = svc.store.outbox_entry(message_id)
        assert current is not None
        if current.state is not state:
            raise SoapFault(
                FaultCode.INVALID_STATE,
                f"document {message_id} is already {current.state}",
                message_id=message_id,
            )
    return element("AcknowledgeDocumentResponse", ("MessageId", message_id), ("State", state.value))
