"""SubmitDocument over zeep: partners' records validated, reverse-mapped, handed to
domestic systems, audited, answered with a receipt we sign; and every refusal."""

from __future__ import annotations

import pytest
from lxml import etree

from adapters.eu import format as eu_format
from exchange.signing import Signer, verify_enveloped
from exchange.soap import MemoryHandoff
from exchange.soap.contract import messages_schema
from tests import canonical_samples as samples
from tests.soap.conftest import EndpointFactory
from tests.soap.support import (
    MRA,
    Endpoint,
    agreements,
    eess_record,
    eu_glp_document,
    eu_pt_document,
    expect_fault,
    nz_document,
    problems,
    signed,
)


def _receipt_element(endpoint: Endpoint) -> etree._Element:
    """The Receipt exactly as it came over the wire."""
    envelope = endpoint.history.last_received["envelope"]
    receipt = envelope.find(f".//{{{MRA}}}Receipt")
    assert receipt is not None
    return receipt


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_an_eess_record_from_nz_is_handed_over_with_a_signed_receipt(
    endpoint: Endpoint, version: str
) -> None:
    service = endpoint.service("nz", version=version)
    receipt = service.SubmitDocument(MessageId="nz-0001", Document=nz_document())

    assert receipt.PartnerMessageId == "nz-0001"
    assert (receipt.Partner, receipt.Kind, receipt.RecordId) == ("nz", "ccc", "NZ-ESS-2021-0042")
    assert receipt.Status == "DELIVERED_DOMESTIC"
    assert isinstance(endpoint.handoff, MemoryHandoff)
    (item,) = endpoint.handoff.items
    assert item.record == eess_record()
    assert (item.partner, item.message_id, item.partner_message_id) == ("nz", receipt.MessageId, "nz-0001")
    assert item.routing_key == "nz.ccc"
    assert endpoint.trail(receipt.MessageId) == ["RECEIVED", "VALIDATED", "DELIVERED_DOMESTIC"]

    wire = _receipt_element(endpoint)
    verified = verify_enveloped(wire, endpoint.our_cert)
    assert verified.findtext(f"{{{MRA}}}MessageId") == receipt.MessageId
    assert messages_schema().is_valid(
        endpoint.history.last_received["envelope"].find(f".//{{{MRA}}}SubmitDocumentResponse")
    )


def test_the_receipt_signature_breaks_when_the_receipt_is_altered(endpoint: Endpoint) -> None:
    endpoint.service("nz").SubmitDocument(MessageId="nz-0002", Document=nz_document())
    wire = _receipt_element(endpoint)
    wire.find(f"{{{MRA}}}RecordId").text = "NZ-ESS-2021-9999"  # type: ignore[union-attr]
    with pytest.raises(Exception, match="does not verify"):
        verify_enveloped(wire, endpoint.our_cert)


@pytest.mark.parametrize(("document", "kind"), [(eu_glp_document, "glp"), (eu_pt_document, "pt")])
def test_eu_glp_statements_and_pt_results_are_accepted(
    endpoint: Endpoint, document: object, kind: str
) -> None:
    data = document()  # type: ignore[operator]
    receipt = endpoint.service("eu").SubmitDocument(MessageId=f"eu-{kind}-1", Document=data)
    assert (receipt.Partner, receipt.Kind) == ("eu", kind)
    assert endpoint.handoff.items[0].record == eu_format.parse(data)  # type: ignore[attr-defined]


def test_a_signed_document_is_checked_and_accepted(
    endpoint: Endpoint, partner_signers: dict[str, Signer]
) -> None:
    receipt = endpoint.service("nz").SubmitDocument(
        MessageId="nz-signed", Document=signed(nz_document(), partner_signers["nz"])
    )
    assert receipt.RecordId == "NZ-ESS-2021-0042"
    (validated,) = [e for e in endpoint.audit.trace(receipt.MessageId) if str(e.event) == "VALIDATED"]
    assert validated.details["signed"] is True
    assert endpoint.handoff.items[0].record == eess_record()  # type: ignore[attr-defined]


def test_a_tampered_signed_document_is_refused_and_audited(
    endpoint: Endpoint, partner_signers: dict[str, Signer]
) -> None:
    data = signed(nz_document(), partner_signers["nz"]).replace(b"PA-12V-1A", b"PA-12V-9A")
    assert data != signed(nz_document(), partner_signers["nz"])
    exc = expect_fault(
        "SIGNATURE_INVALID", endpoint.service("nz").SubmitDocument, MessageId="nz-t", Document=data
    )
    assert "Digest mismatch" in exc.message
    assert endpoint.handoff.items == []  # type: ignore[attr-defined]
    rejected = endpoint.last_rejection()
    assert rejected.partner == "nz" and rejected.details["code"] == "SIGNATURE_INVALID"
    assert endpoint.trail(rejected.message_id or "") == ["RECEIVED", "REJECTED"]


def test_a_document_signed_with_another_key_is_refused(
    endpoint: Endpoint, partner_signers: dict[str, Signer]
) -> None:
    for key in ("rogue", "eu"):  # nobody's key, and another partner's
        data = signed(nz_document(), partner_signers[key])
        expect_fault(
            "SIGNATURE_INVALID", endpoint.service("nz").SubmitDocument, MessageId=f"nz-{key}", Document=data
        )


def test_an_agreement_may_require_signed_documents(
    endpoint_factory: EndpointFactory, partner_signers: dict[str, Signer]
) -> None:
    endpoint = endpoint_factory(agreements(nz={"soap_require_signature": True}))
    service = endpoint.service("nz")
    exc = expect_fault("SIGNATURE_INVALID", service.SubmitDocument, MessageId="nz-1", Document=nz_document())
    assert "requires signed documents" in exc.message
    assert service.SubmitDocument(MessageId="nz-2", Document=signed(nz_document(), partner_signers["nz"]))


def test_a_signed_document_without_a_configured_certificate_is_refused(
    endpoint_factory: EndpointFactory, partner_signers: dict[str, Signer]
) -> None:
    endpoint = endpoint_factory(agreements().replace('soap_certificate = "nz-cert.pem"\n', ""))
    data = signed(nz_document(), partner_signers["nz"])
    exc = expect_fault(
        "SIGNATURE_INVALID", endpoint.service("nz").SubmitDocument, MessageId="nz-1", Document=data
    )
    assert "no certificate is configured" in exc.message


def test_the_same_partner_message_id_twice_is_a_duplicate(endpoint: Endpoint) -> None:
    service = endpoint.service("nz")
    first = service.SubmitDocument(MessageId="nz-dup", Document=nz_document())
    exc = expect_fault("DUPLICATE", service.SubmitDocument, MessageId="nz-dup", Document=nz_document())
    assert first.MessageId in exc.message
    assert len(endpoint.handoff.items) == 1  # type: ignore[attr-defined]
    assert endpoint.last_rejection().details["original"] == first.MessageId
    # Message ids are the partner's own: another partner may use the same one.
    assert endpoint.service("eu").SubmitDocument(MessageId="nz-dup", Document=eu_glp_document())


def test_a_refused_document_does_not_hold_its_message_id(endpoint: Endpoint) -> None:
    service = endpoint.service("nz")
    broken = nz_document().replace(b"<nz:Status>Current</nz:Status>", b"<nz:Status>Sold</nz:Status>", 1)
    expect_fault("SCHEMA_INVALID", service.SubmitDocument, MessageId="nz-fix", Document=broken)
    assert service.SubmitDocument(MessageId="nz-fix", Document=nz_document()).RecordId == "NZ-ESS-2021-0042"


def test_a_schema_invalid_document_names_line_and_path(endpoint: Endpoint) -> None:
    broken = nz_document().replace(b"<nz:Status>Current</nz:Status>", b"<nz:Status>Sold</nz:Status>", 1)
    exc = expect_fault(
        "SCHEMA_INVALID", endpoint.service("nz").SubmitDocument, MessageId="nz-b", Document=broken
    )
    (problem,) = problems(exc)
    assert problem["line"] is not None and int(problem["line"]) > 1
    assert problem["path"] == "/nz:ProductCertificate/nz:Status"
    assert "Sold" in (problem["message"] or "")
    assert endpoint.last_rejection().details["problems"][0]["path"] == "/nz:ProductCertificate/nz:Status"


def test_a_document_of_another_partner_format_is_schema_invalid(endpoint: Endpoint) -> None:
    exc = expect_fault(
        "SCHEMA_INVALID", endpoint.service("nz").SubmitDocument, MessageId="nz-eu", Document=eu_glp_document()
    )
    assert "is not a nz document" in exc.message


def test_a_valid_document_that_breaks_a_record_rule_is_record_invalid(endpoint: Endpoint) -> None:
    doc = nz_document().replace(b"<nz:ExpiryDate>2024-03-01", b"<nz:ExpiryDate>2018-03-01")
    assert doc != nz_document()
    exc = expect_fault(
        "RECORD_INVALID", endpoint.service("nz").SubmitDocument, MessageId="nz-r", Document=doc
    )
    assert "before issueDate" in exc.message


def test_ccc_certificates_cannot_come_from_a_partner(endpoint: Endpoint) -> None:
    from adapters.nz import format as nz_format

    ccc = nz_format.convert(samples.certificate())
    exc = expect_fault(
        "OUT_OF_SCOPE", endpoint.service("nz").SubmitDocument, MessageId="nz-ccc", Document=ccc
    )
    assert "issued in China" in exc.message
    expect_fault(
        "OUT_OF_SCOPE",
        endpoint.service("eu").SubmitDocument,
        MessageId="eu-ccc",
        Document=eu_format.convert(samples.certificate()),
    )


def test_a_document_that_is_not_base64_is_malformed(endpoint: Endpoint) -> None:
    from tests.soap.support import post

    body = endpoint.raw_request("nz", "SubmitDocument", MessageId="nz-b64", Document=b"x")
    root = etree.fromstring(body)
    root.find(f".//{{{MRA}}}Document").text = "!!!notbase64"  # type: ignore[union-attr]
    response = post(endpoint.url, etree.tostring(root))
    assert response.fault()[0] in ("SCHEMA_INVALID", "MALFORMED")  # the XSD sees it first


def test_when_domestic_systems_are_down_the_partner_may_retry(endpoint: Endpoint) -> None:
    assert isinstance(endpoint.handoff, MemoryHandoff)
    endpoint.handoff.fail_with = "broker down"
    service = endpoint.service("nz")
    exc = expect_fault("UNAVAILABLE", service.SubmitDocument, MessageId="nz-retry", Document=nz_document())
    assert exc.code == "soap:Server"
    endpoint.handoff.fail_with = None
    receipt = service.SubmitDocument(MessageId="nz-retry", Document=nz_document())
    assert receipt.Status == "DELIVERED_DOMESTIC"


def test_concurrent_submissions_each_get_their_receipt_and_the_chain_holds(endpoint: Endpoint) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def submit(worker: int) -> list[str]:
        service = endpoint.service("nz")  # a client per thread, as partners' systems would have
        return [
            service.SubmitDocument(MessageId=f"nz-{worker}-{i}", Document=nz_document()).MessageId
            for i in range(5)
        ]

    with ThreadPoolExecutor(6) as pool:
        ids = [mid for batch in pool.map(submit, range(6)) for mid in batch]
    assert len(set(ids)) == 30
    assert len(endpoint.handoff.items) == 30  # type: ignore[attr-defined]
    assert all(endpoint.trail(mid) == ["RECEIVED", "VALIDATED", "DELIVERED_DOMESTIC"] for mid in ids)
    assert endpoint.audit.verify().ok
