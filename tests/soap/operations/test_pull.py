"""ListPending, PullDocument, AcknowledgeDocument over zeep: the pull partner's side."""

from __future__ import annotations

import pytest

from exchange.soap import PullState
from tests.soap.support import Endpoint, expect_fault, nz_document


def _enqueue(endpoint: Endpoint, message_id: str, partner: str = "nz", kind: str = "ccc") -> bytes:
    document = nz_document()
    assert endpoint.store.enqueue_for_pull(partner, message_id, kind, "2019010907123456", document)
    return document


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_list_pull_acknowledge(endpoint: Endpoint, version: str) -> None:
    document = _enqueue(endpoint, "m-1")
    service = endpoint.service("nz", version=version)

    listed = service.ListPending()
    assert [d.MessageId for d in listed.PendingDocument] == ["m-1"]
    (item,) = listed.PendingDocument
    assert (item.Kind, item.RecordId, item.State, item.Size) == (
        "ccc",
        "2019010907123456",
        "PENDING",
        len(document),
    )
    assert listed.More is False

    pulled = service.PullDocument(MessageId="m-1")
    assert pulled.Document == document
    assert (pulled.Kind, pulled.RecordId, pulled.DocumentSha256) == (
        "ccc",
        "2019010907123456",
        item.DocumentSha256,
    )
    assert service.ListPending().PendingDocument[0].State == "DOWNLOADED"

    acked = service.AcknowledgeDocument(MessageId="m-1", Outcome="OK")
    assert (acked.MessageId, acked.State) == ("m-1", "ACKNOWLEDGED")
    assert service.ListPending().PendingDocument == []
    assert endpoint.trail("m-1") == ["DOWNLOADED", "ACKNOWLEDGED"]
    assert [e.actor for e in endpoint.audit.trace("m-1")] == ["soap:nz", "soap:nz"]


def test_a_downloaded_document_may_be_pulled_again_until_acknowledged(endpoint: Endpoint) -> None:
    document = _enqueue(endpoint, "m-again")
    service = endpoint.service("nz")
    assert service.PullDocument(MessageId="m-again").Document == document
    assert service.PullDocument(MessageId="m-again").Document == document
    service.AcknowledgeDocument(MessageId="m-again", Outcome="OK")
    expect_fault("INVALID_STATE", service.PullDocument, MessageId="m-again")


def test_warnings_and_failures_are_recorded_with_what_the_partner_said(endpoint: Endpoint) -> None:
    _enqueue(endpoint, "m-warn")
    _enqueue(endpoint, "m-fail")
    service = endpoint.service("nz")
    for mid in ("m-warn", "m-fail"):
        service.PullDocument(MessageId=mid)
    warned = service.AcknowledgeDocument(
        MessageId="m-warn", Outcome="WARNINGS", Warning=["HS code unknown", "x"]
    )
    failed = service.AcknowledgeDocument(MessageId="m-fail", Outcome="FAILED", Reason="register is closed")
    assert (warned.State, failed.State) == ("ACKNOWLEDGED", "FAILED")
    (warn_entry,) = [e for e in endpoint.audit.trace("m-warn") if str(e.event) == "ACKNOWLEDGED_WITH_WARNING"]
    assert warn_entry.details["warnings"] == ["HS code unknown", "x"]
    (fail_entry,) = [e for e in endpoint.audit.trace("m-fail") if str(e.event) == "SEND_FAILURE"]
    assert fail_entry.details["reason"] == "register is closed"
    entry = endpoint.store.outbox_entry("m-fail")
    assert entry is not None and (entry.state, entry.reason) == (PullState.FAILED, "register is closed")


def test_a_failure_needs_a_reason(endpoint: Endpoint) -> None:
    _enqueue(endpoint, "m-noreason")
    service = endpoint.service("nz")
    service.PullDocument(MessageId="m-noreason")
    expect_fault("SCHEMA_INVALID", service.AcknowledgeDocument, MessageId="m-noreason", Outcome="FAILED")


def test_acknowledging_before_pulling_is_refused(endpoint: Endpoint) -> None:
    _enqueue(endpoint, "m-early")
    expect_fault(
        "INVALID_STATE", endpoint.service("nz").AcknowledgeDocument, MessageId="m-early", Outcome="OK"
    )


def test_acknowledging_twice_the_same_way_changes_nothing_another_way_is_refused(endpoint: Endpoint) -> None:
    _enqueue(endpoint, "m-twice")
    service = endpoint.service("nz")
    service.PullDocument(MessageId="m-twice")
    service.AcknowledgeDocument(MessageId="m-twice", Outcome="OK")
    assert service.AcknowledgeDocument(MessageId="m-twice", Outcome="WARNINGS").State == "ACKNOWLEDGED"
    expect_fault(
        "INVALID_STATE", service.AcknowledgeDocument, MessageId="m-twice", Outcome="FAILED", Reason="no"
    )
    assert endpoint.trail("m-twice") == ["DOWNLOADED", "ACKNOWLEDGED", "REJECTED"]


def test_unknown_documents(endpoint: Endpoint) -> None:
    service = endpoint.service("nz")
    expect_fault("UNKNOWN_DOCUMENT", service.PullDocument, MessageId="nothing")
    expect_fault("UNKNOWN_DOCUMENT", service.AcknowledgeDocument, MessageId="nothing", Outcome="OK")


def test_the_list_is_oldest_first_filtered_by_kind_and_paged(endpoint: Endpoint) -> None:
    for i in range(5):
        _enqueue(endpoint, f"m-{i}")
    endpoint.store.enqueue_for_pull("nz", "m-glp", "glp", "facility-1", b"<x/>")
    service = endpoint.service("nz")
    page = service.ListPending(Kind="ccc", MaxResults=3)
    assert [d.MessageId for d in page.PendingDocument] == ["m-0", "m-1", "m-2"]
    assert page.More is True
    assert [d.MessageId for d in service.ListPending(Kind="glp").PendingDocument] == ["m-glp"]
    assert len(service.ListPending().PendingDocument) == 6


def test_an_id_xml_cannot_hold_never_enters_the_outbox_so_list_pending_keeps_working(
    endpoint: Endpoint,
) -> None:
    """Issue 13, finding 3: a control character in an id reached NZ's outbox and made every
    ListPending page holding it fail with INTERNAL, for good."""
    _enqueue(endpoint, "m-before")
    with pytest.raises(ValueError, match="U\\+0001"):
        endpoint.store.enqueue_for_pull("nz", "m-\x01-bad", "ccc", "2019010907123456", nz_document())
    with pytest.raises(ValueError, match="record id"):
        endpoint.store.enqueue_for_pull("nz", "m-ok", "ccc", "2019\x0b", nz_document())
    _enqueue(endpoint, "m-after")
    listed = endpoint.service("nz").ListPending()
    assert [d.MessageId for d in listed.PendingDocument] == ["m-before", "m-after"]
