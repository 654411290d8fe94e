"""WS-Security message signatures on requests to our endpoint, with zeep's own
BinarySignature (python-xmlsec) as the partner: accepted when the agreement's certificate
verifies a signature over Body and Timestamp, refused with the WSS fault code otherwise,
and our signed answers verified by zeep and by the xmlsec1 command line."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import zeep
from lxml import etree

from exchange.signing import KeyPairFiles
from tests.soap.conftest import EndpointFactory
from tests.soap.support import CONTENT_TYPES, MRA, Endpoint, agreements, expect_fault, nz_document, post
from tests.soap.wss_partner import FreshTimestamp, ZeepPartner, xmlsec1_verifies

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"


def received(endpoint: Endpoint) -> int:
    """Documents the endpoint took in (audited RECEIVED)."""
    return sum(1 for e in endpoint.audit.export(None, None) if str(e.event) == "RECEIVED")


def with_policy(factory: EndpointFactory, policy: str) -> Endpoint:
    return factory(agreements(nz={"soap_wss_signature": policy}))


def submit(service: object, mid: str) -> str:
    receipt = service.SubmitDocument(MessageId=mid, Document=nz_document())  # type: ignore[attr-defined]
    return str(receipt.Status)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_zeep_binary_signature_is_accepted_and_zeep_verifies_our_signed_answers(
    endpoint_factory: EndpointFactory,
    partner_keys: dict[str, KeyPairFiles],
    our_keys: KeyPairFiles,
    version: str,
) -> None:
    """3 signed calls per SOAP version accepted; 3 signed answers verified by zeep."""
    endpoint = with_policy(endpoint_factory, "required")
    partner = ZeepPartner(partner_keys["nz"], our_keys.certificate)
    service = endpoint.service("nz", version=version, wsse=partner)
    assert submit(service, f"nz-wss-{version}-1") == "DELIVERED_DOMESTIC"
    assert submit(service, f"nz-wss-{version}-2") == "DELIVERED_DOMESTIC"
    service.ListPending()
    assert received(endpoint) == 2
    assert partner.verified == 3
    assert endpoint.rejections() == []


def _refused(endpoint: Endpoint, partner: ZeepPartner, wsse_code: str, reason: str) -> None:
    service = endpoint.service("nz", wsse=partner)
    before = received(endpoint)
    fault = expect_fault("SIGNATURE_INVALID", submit, service, "nz-refused")
    assert fault.code == f"wsse:{wsse_code}"
    rejected = endpoint.last_rejection()
    assert rejected.details["code"] == "SIGNATURE_INVALID" and rejected.partner == "nz"
    assert reason in rejected.details["wss"], rejected.details
    assert received(endpoint) == before  # nothing of the message was taken


def test_an_unsigned_request_is_refused_when_required(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles]
) -> None:
    endpoint = with_policy(endpoint_factory, "required")
    _refused(endpoint, ZeepPartner(partner_keys["nz"], None, sign=False), "InvalidSecurity", "no WS-Security")


def test_a_signature_by_another_key_is_refused(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    """The rogue key's own certificate travels as the token: not the partner's, refused."""
    endpoint = with_policy(endpoint_factory, "required")
    partner = ZeepPartner(partner_keys["rogue"], our_keys.certificate)
    _refused(endpoint, partner, "FailedCheck", "not the partner's certificate")
    assert partner.verified == 1  # the fault came signed, and zeep verified it


def test_an_expired_message_is_refused(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    endpoint = with_policy(endpoint_factory, "required")
    stale = FreshTimestamp(age_s=3600, ttl_s=300)
    partner = ZeepPartner(partner_keys["nz"], our_keys.certificate, timestamp=stale)
    _refused(endpoint, partner, "MessageExpired", "expired")


def test_a_signature_that_leaves_the_timestamp_out_is_refused(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    endpoint = with_policy(endpoint_factory, "required")
    partner = ZeepPartner(partner_keys["nz"], our_keys.certificate, timestamp_after_signature=True)
    _refused(endpoint, partner, "FailedCheck", "does not cover both the Body and the Timestamp")


def test_sha1_is_refused(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    """zeep's default algorithms (RSA-SHA1, SHA-1 digests) are not accepted."""
    endpoint = with_policy(endpoint_factory, "required")
    import xmlsec

    c = xmlsec.constants
    partner = ZeepPartner(
        partner_keys["nz"], our_keys.certificate,
        signature_method=c.TransformRsaSha1, digest_method=c.TransformSha1,
    )  # fmt: skip
    _refused(endpoint, partner, "FailedCheck", "is not accepted")


def _signed_request(endpoint: Endpoint, partner: ZeepPartner, mid: str) -> etree._Element:
    service = endpoint.service("nz", wsse=partner, plugins=[])
    message: etree._Element = service._client.create_message(
        service, "SubmitDocument", MessageId=mid, Document=nz_document()
    )
    return message


def test_a_tampered_body_is_refused_and_answers_verify_with_xmlsec1(
    endpoint_factory: EndpointFactory,
    partner_keys: dict[str, KeyPairFiles],
    our_keys: KeyPairFiles,
    tmp_path: Path,
) -> None:
    """2 requests posted as bytes: the intact one accepted, the tampered one refused;
    both answers verified by xmlsec1 with our certificate, and one tampered answer not."""
    endpoint = with_policy(endpoint_factory, "required")
    partner = ZeepPartner(partner_keys["nz"], our_keys.certificate)
    headers = {"SOAPAction": f'"{MRA}#SubmitDocument"'}

    intact = post(
        endpoint.url, etree.tostring(_signed_request(endpoint, partner, "nz-intact")), headers=headers
    )
    assert intact.status == 200 and b"DELIVERED_DOMESTIC" in intact.body
    assert received(endpoint) == 1
    assert xmlsec1_verifies(intact.body, our_keys.certificate, tmp_path)

    message = _signed_request(endpoint, partner, "nz-tampered")
    document = message.find(f".//{{{MRA}}}Document")
    assert document is not None
    document.text = base64.b64encode(nz_document().replace(b"NZ-ESS-2021-0042", b"NZ-ESS-2021-0043")).decode()
    refused = post(endpoint.url, etree.tostring(message), headers=headers, content_type=CONTENT_TYPES["1.1"])
    assert refused.fault() == ("SIGNATURE_INVALID", "wsse:FailedCheck")
    assert "does not verify" in endpoint.last_rejection().details["wss"]
    assert received(endpoint) == 1  # the intact one only
    assert xmlsec1_verifies(refused.body, our_keys.certificate, tmp_path)
    assert not xmlsec1_verifies(
        refused.body.replace(b"SIGNATURE_INVALID", b"SIGNATURE_VALID!"), our_keys.certificate, tmp_path
    )


def test_optional_accepts_unsigned_but_still_refuses_a_bad_signature(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    endpoint = with_policy(endpoint_factory, "optional")
    assert submit(endpoint.service("nz", wsse=ZeepPartner(partner_keys["nz"], None, sign=False)), "n1") == (
        "DELIVERED_DOMESTIC"
    )
    _refused(
        endpoint, ZeepPartner(partner_keys["rogue"], our_keys.certificate), "FailedCheck", "not the partner"
    )


def test_off_does_not_check_but_still_answers_signed(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    endpoint = with_policy(endpoint_factory, "off")
    partner = ZeepPartner(partner_keys["rogue"], our_keys.certificate)
    assert submit(endpoint.service("nz", wsse=partner), "n1") == "DELIVERED_DOMESTIC"
    assert partner.verified == 1


def test_zeep_refuses_an_answer_it_cannot_verify(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles]
) -> None:
    """The partner pins another certificate for us: zeep refuses our (valid) answer."""
    endpoint = with_policy(endpoint_factory, "required")
    partner = ZeepPartner(partner_keys["nz"], partner_keys["rogue"].certificate)
    with pytest.raises(zeep.exceptions.SignatureVerificationFailed):
        submit(endpoint.service("nz", wsse=partner), "n1")


def test_an_unauthenticated_caller_gets_no_signature_from_us(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    """1 signed request with a wrong password digest: refused unsigned (no private-key work
    for a caller we do not know)."""
    endpoint = with_policy(endpoint_factory, "required")
    message = _signed_request(endpoint, ZeepPartner(partner_keys["nz"], our_keys.certificate), "nz-anon")
    password = message.find(".//{*}UsernameToken/{*}Password")
    assert password is not None
    password.text = base64.b64encode(b"x" * 20).decode()
    refused = post(endpoint.url, etree.tostring(message), headers={"SOAPAction": f'"{MRA}#SubmitDocument"'})
    assert refused.fault() == ("NOT_AUTHENTICATED", "wsse:FailedAuthentication")
    assert b"Signature" not in refused.body


def test_a_signed_request_over_64_kb_takes_the_header_first_path_and_is_checked_the_same(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    """Above 64 kB only the Header is parsed before authentication (preauth.py), then the
    whole envelope: the signature check must hold on that path too, intact and tampered."""
    endpoint = with_policy(endpoint_factory, "required")
    partner = ZeepPartner(partner_keys["nz"], our_keys.certificate)
    headers = {"SOAPAction": f'"{MRA}#SubmitDocument"'}
    small = nz_document()
    close = small.rindex(b"</")
    large = small[:close] + b"\n" + b" " * (80 * 1024) + small[close:]  # whitespace: same record

    def signed_large(mid: str) -> etree._Element:
        service = endpoint.service("nz", wsse=partner, plugins=[])
        message: etree._Element = service._client.create_message(
            service, "SubmitDocument", MessageId=mid, Document=large
        )
        return message

    intact = etree.tostring(signed_large("nz-large-intact"))
    assert len(intact) > 64 * 1024
    answer = post(endpoint.url, intact, headers=headers, content_type=CONTENT_TYPES["1.1"])
    assert answer.status == 200 and b"DELIVERED_DOMESTIC" in answer.body, answer.body[:500]
    assert received(endpoint) == 1

    message = signed_large("nz-large-tampered")
    document = message.find(f".//{{{MRA}}}Document")
    assert document is not None
    document.text = base64.b64encode(large.replace(b"NZ-ESS-2021-0042", b"NZ-ESS-2021-0043")).decode()
    tampered = etree.tostring(message)
    assert len(tampered) > 64 * 1024
    refused = post(endpoint.url, tampered, headers=headers, content_type=CONTENT_TYPES["1.1"])
    assert refused.fault() == ("SIGNATURE_INVALID", "wsse:FailedCheck")
    assert received(endpoint) == 1
