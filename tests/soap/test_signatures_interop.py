"""Signatures verifiable where they are received, tried with xmlsec1 (an implementation
we did not write) over real HTTP on loopback:

- our SubmitDocument receipts verify INSIDE the SOAP response, as received (raw bytes),
  by reference to the Receipt's Id; a tampered response is refused;
- the EU simulator's receipts likewise (what our outbound client verifies in place);
- a partner document signed by xmlsec1 with Reference URI="#doc1" is accepted by
  SubmitDocument, a tampered one refused (SIGNATURE_INVALID);
- the responses validate against the SOAP schemas we publish (xmllint, xmlschema)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from lxml import etree

from exchange.signing import KeyPairFiles, SignatureInvalid, Signer, verify_enveloped
from exchange.transports.soap_push.simulator import EU, PATH, PartnerEuApp, PartnerSimulator
from exchange.xml.safe import parse_bytes
from tests.interop.tools import (
    SCHEMAS,
    legacy_signed,
    verified,
    xmllint_valid,
    xmlschema_valid,
    xmlsec1_sign,
    xmlsec1_verify,
)
from tests.soap.support import MRA, SOAP11, Endpoint, RawResponse, eess_record, nz_document, post

NZ_ROOT = "urn:mra-exchange:nz:ccc:1.0:ProductCertificate"
OUR_RECEIPT = f"{MRA}:Receipt"
EU_RECEIPT = f"{EU}:Receipt"


def submit(endpoint: Endpoint, message_id: str, document: bytes) -> RawResponse:
    """SubmitDocument as NZ, the raw HTTP response kept byte for byte."""
    body = endpoint.raw_request("nz", "SubmitDocument", MessageId=message_id, Document=document)
    return post(endpoint.url, body, headers={"SOAPAction": '"urn:mra-exchange:soap:1.0/SubmitDocument"'})


def tamper(raw: bytes, element: bytes, value: bytes) -> bytes:
    """The same bytes with one element's text replaced (what an intermediary could do)."""
    start = raw.index(element + b">") + len(element) + 1
    end = raw.index(b"<", start)
    assert raw[start:end] != value
    return raw[:start] + value + raw[end:]


def response_part(raw: bytes, tag: str, path: Path) -> Path:
    """The response element alone, for schema validation against the published XSD."""
    found = parse_bytes(raw).find(f".//{tag}")
    assert found is not None
    path.write_bytes(etree.tostring(found))
    return path


def test_our_receipt_verifies_inside_the_soap_response_as_received(
    endpoint: Endpoint, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles], tmp_path: Path
) -> None:
    counts = {"verified in place": 0, "tampered refused": 0, "valid xmllint": 0, "valid xmlschema": 0}
    for n, record in enumerate([eess_record(), eess_record(certNo="NZ-ESS-2021-0043")]):
        signer = Signer.from_files(partner_keys["nz"].key, partner_keys["nz"].certificate)
        document = etree.tostring(signer.sign(parse_bytes(nz_document(record)), id_value=f"doc-{n}"))
        response = submit(endpoint, f"nz-interop-{n}", document)
        assert response.status == 200, response.body[:500]
        received = tmp_path / f"response-{n}.xml"
        received.write_bytes(response.body)  # as received: envelope, body, receipt, signature
        result = xmlsec1_verify(received, our_keys.certificate, OUR_RECEIPT, signature_of="Receipt")
        assert verified(result), result.output
        counts["verified in place"] += 1
        receipt = parse_bytes(response.body).find(f".//{{{MRA}}}Receipt")
        assert receipt is not None and receipt.get("Id", "").startswith("receipt-")
        reference = receipt.find(".//{http://www.w3.org/2000/09/xmldsig#}Reference")
        assert reference is not None and reference.get("URI") == f"#{receipt.get('Id')}"
        verify_enveloped(receipt, our_keys.certificate.read_bytes())  # ours, in place too

        forged = tmp_path / f"forged-{n}.xml"
        forged.write_bytes(tamper(response.body, b"<mra:Status", b"REJECTED"))
        refused = xmlsec1_verify(forged, our_keys.certificate, OUR_RECEIPT, signature_of="Receipt")
        assert not verified(refused) and refused.returncode != 0, refused.output
        counts["tampered refused"] += 1

        part = response_part(response.body, f"{{{MRA}}}SubmitDocumentResponse", tmp_path / f"part-{n}.xml")
        counts["valid xmllint"] += xmllint_valid(SCHEMAS / "soap" / "exchange-1.0.xsd", [part])[part]
        counts["valid xmlschema"] += (
            xmlschema_valid(SCHEMAS / "soap" / "exchange-1.0.xsd", [part])[part] is None
        )
    print(f"\nour receipts: {counts}")
    assert counts == {"verified in place": 2, "tampered refused": 2, "valid xmllint": 2, "valid xmlschema": 2}


def test_a_partner_document_signed_by_xmlsec1_by_id_is_accepted_and_a_tampered_one_refused(
    endpoint: Endpoint, partner_keys: dict[str, KeyPairFiles], tmp_path: Path
) -> None:
    nz = partner_keys["nz"]
    signed = xmlsec1_sign(nz_document(), nz.key, nz.certificate, NZ_ROOT, tmp_path, "doc1")
    assert b'URI="#doc1"' in signed and b'Id="doc1"' in signed
    accepted = submit(endpoint, "nz-xmlsec1-1", signed)
    assert accepted.status == 200, accepted.body[:800]
    assert parse_bytes(accepted.body).findtext(f".//{{{MRA}}}Status") == "DELIVERED_DOMESTIC"
    (validated,) = [e for e in endpoint.audit.export(None, None) if str(e.event) == "VALIDATED"]
    assert validated.details["signed"] is True

    altered = tamper(signed, b"<nz:CertificateNumber", b"NZ-ESS-2021-0099")
    refused = submit(endpoint, "nz-xmlsec1-2", altered)
    assert refused.status == 500 and refused.fault()[0] == "SIGNATURE_INVALID", refused.body[:800]

    wrapped = parse_bytes(signed)  # the genuine signature, moved onto a document it never signed
    wrapped.set("Id", "forged")
    refused = submit(endpoint, "nz-xmlsec1-3", etree.tostring(wrapped))
    assert refused.fault()[0] == "SIGNATURE_INVALID" and b"not the ProductCertificate" in refused.body


def test_the_eu_simulators_receipt_verifies_inside_its_response(
    our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles], tmp_path: Path
) -> None:
    """What our outbound client checks (in place): xmlsec1 agrees, and refuses it altered."""
    eu = partner_keys["eu"]
    ours = Signer.from_files(our_keys.key, our_keys.certificate)
    app = PartnerEuApp(Signer.from_files(eu.key, eu.certificate), our_keys.certificate.read_bytes())
    with PartnerSimulator(app) as sim:
        document = etree.tostring(ours.sign(parse_bytes(nz_document()), id_value="doc-eu-1"))
        body = (
            f'<s:Envelope xmlns:s="{SOAP11}" xmlns:eu="{EU}"><s:Header><eu:MessageInfo>'
            "<eu:MessageId>m-1</eu:MessageId><eu:ConversationId>c-1</eu:ConversationId>"
            "</eu:MessageInfo></s:Header><s:Body><eu:ReceiveDocument><eu:Document>"
            f"{base64.b64encode(document).decode()}</eu:Document></eu:ReceiveDocument></s:Body></s:Envelope>"
        ).encode()
        response = post(sim.url, body)
    assert sim.url.endswith(PATH) and response.status == 200, response.body[:500]
    received = tmp_path / "eu-response.xml"
    received.write_bytes(response.body)
    assert verified(result := xmlsec1_verify(received, eu.certificate, EU_RECEIPT, signature_of="Receipt")), (
        result.output
    )
    receipt = parse_bytes(response.body).find(f".//{{{EU}}}Receipt")
    assert receipt is not None and receipt.findtext(f"{{{EU}}}Status") == "ACK"
    verify_enveloped(receipt, eu.certificate.read_bytes())
    forged = tmp_path / "eu-forged.xml"
    forged.write_bytes(tamper(response.body, b"<eu:Status", b"REJECT"))
    assert not verified(xmlsec1_verify(forged, eu.certificate, EU_RECEIPT, signature_of="Receipt"))
    with pytest.raises(SignatureInvalid):
        verify_enveloped(
            parse_bytes(forged.read_bytes()).find(f".//{{{EU}}}Receipt"), eu.certificate.read_bytes()
        )  # type: ignore[arg-type]
    part = response_part(response.body, f"{{{EU}}}ReceiveDocumentResponse", tmp_path / "eu-part.xml")
    assert xmllint_valid(SCHEMAS / "soap" / "partner-eu-1.0.xsd", [part])[part]
    assert xmlschema_valid(SCHEMAS / "soap" / "partner-eu-1.0.xsd", [part])[part] is None
    print("\neu receipts: verified in place 1, tampered refused 1, valid xmllint 1, valid xmlschema 1")


def test_a_1_0_document_signed_as_before_is_still_accepted_during_the_transition(
    endpoint: Endpoint, partner_keys: dict[str, KeyPairFiles]
) -> None:
    nz = partner_keys["nz"]
    legacy = legacy_signed(nz_document(), nz.key, nz.certificate)
    assert b'version="1.0"' in legacy and b'URI=""' in legacy
    response = submit(endpoint, "nz-legacy-1", legacy)
    assert response.status == 200, response.body[:800]
    root = parse_bytes(legacy)
    root.set("Id", "doc1")  # 1.0 has no Id: the signature no longer matches either
    refused = submit(endpoint, "nz-legacy-2", etree.tostring(root))
    assert refused.fault()[0] == "SIGNATURE_INVALID"
