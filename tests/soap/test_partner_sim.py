"""The EU partner simulator on its own, over raw HTTP: it refuses what a careful partner
refuses, answers a known message id with its first receipt, and counts."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests

from exchange.signing import KeyPairFiles, Signer
from exchange.transports.soap_push.simulator import EU, Fault, PartnerEuApp, PartnerSimulator

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def envelope(document: bytes, mid: str | None = "m-1") -> bytes:
    header = (
        f"<soap:Header><eu:MessageInfo><eu:MessageId>{mid}</eu:MessageId>"
        "<eu:ConversationId>c-1</eu:ConversationId><eu:Timestamp>2026-01-01T00:00:00Z</eu:Timestamp>"
        "</eu:MessageInfo></soap:Header>"
        if mid
        else ""
    )
    data = base64.b64encode(document).decode()
    body = f"<eu:ReceiveDocument><eu:Document>{data}</eu:Document></eu:ReceiveDocument>"
    root = f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:eu="{EU}">'
    return f"{root}{header}<soap:Body>{body}</soap:Body></soap:Envelope>".encode()


@pytest.fixture
def sim(our_keys: KeyPairFiles, partner_signers: dict[str, Signer]) -> Iterator[PartnerSimulator]:
    s = PartnerSimulator(PartnerEuApp(partner_signers["eu"], our_keys.certificate.read_bytes()))
    yield s
    s.stop()


@pytest.fixture
def our_signer(our_keys: KeyPairFiles) -> Signer:
    return Signer.from_files(our_keys.key, our_keys.certificate)


def post(sim: PartnerSimulator, data: bytes) -> requests.Response:
    return requests.post(sim.url, data=data, headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)


def status_of(resp: requests.Response) -> tuple[str | None, str | None]:
    from exchange.xml.safe import parse_bytes

    root = parse_bytes(resp.content)
    return root.findtext(f".//{{{EU}}}Status"), root.findtext(f".//{{{EU}}}Reason")


def signed(signer: Signer, text: bytes = b"<d xmlns='urn:x'>1</d>") -> bytes:
    from lxml import etree

    from exchange.xml.safe import parse_bytes

    return etree.tostring(signer.sign(parse_bytes(text)))


def test_unsigned_document_is_rejected(sim: PartnerSimulator) -> None:
    resp = post(sim, envelope(b"<d xmlns='urn:x'>1</d>"))
    assert resp.status_code == 200
    assert status_of(resp) == ("REJECT", "the document is not signed")


def test_document_signed_by_another_key_is_rejected(
    sim: PartnerSimulator, partner_signers: dict[str, Signer]
) -> None:
    status, reason = status_of(post(sim, envelope(signed(partner_signers["rogue"]))))
    assert status == "REJECT" and reason is not None and "does not verify" in reason


def test_known_message_id_gets_its_first_receipt(sim: PartnerSimulator, our_signer: Signer) -> None:
    doc = signed(our_signer)
    first, second = post(sim, envelope(doc)), post(sim, envelope(doc))
    assert status_of(first)[0] == "ACK" and first.content == second.content
    assert sim.stats.as_dict() | {"faults": {}} == {
        "requests": 2,
        "messages": 1,
        "deliveries": 2,
        "acknowledged": 1,
        "rejected": 0,
        "wss_verified": 0,
        "wss_refused": 0,
        "duplicates": 1,
        "faults": {},
    }


def test_a_rejected_message_may_come_again(sim: PartnerSimulator, our_signer: Signer) -> None:
    sim.set_fault(Fault.REJECT, times=1)
    doc = signed(our_signer)
    assert status_of(post(sim, envelope(doc)))[0] == "REJECT"
    assert sim.app.fault is Fault.NONE  # `times` used up
    assert status_of(post(sim, envelope(doc)))[0] == "ACK"
    assert sim.stats.duplicates == 0 and sim.stats.rejected == 1


def test_missing_header_and_hostile_input_are_faults(sim: PartnerSimulator, our_signer: Signer) -> None:
    resp = post(sim, envelope(signed(our_signer), mid=None))
    assert resp.status_code == 500 and b"MALFORMED" in resp.content and b"MessageInfo" in resp.content
    resp = post(sim, b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    assert resp.status_code == 500 and b"DOCTYPE" in resp.content
    assert sim.stats.deliveries == {}


def test_faults_over_http(sim: PartnerSimulator, our_signer: Signer) -> None:
    doc = envelope(signed(our_signer))
    sim.set_fault(Fault.HTTP_500, times=1)
    resp = post(sim, doc)
    assert resp.status_code == 500 and resp.headers["Content-Type"] == "text/plain"
    sim.set_fault(Fault.MALFORMED, times=1)
    assert post(sim, doc).content == b"<soap:Envelope><Body><Rec"
    sim.set_fault(Fault.SOAP_FAULT, times=1)
    resp = post(sim, doc)
    assert resp.status_code == 500 and b"UNAVAILABLE" in resp.content
    sim.set_fault(Fault.DOWN)
    assert not sim.listening
    with pytest.raises(requests.ConnectionError):
        post(sim, doc)
    assert sim.stats.faults == {"http-500": 1, "malformed": 1, "soap-fault": 1}


def test_wsdl_names_where_it_listens(sim: PartnerSimulator) -> None:
    resp = requests.get(sim.url + "?wsdl", timeout=10)
    assert resp.status_code == 200 and f'location="{sim.url}"'.encode() in resp.content
