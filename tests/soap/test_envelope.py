"""Envelopes read and written: versions, structure, faults that validate against the contract."""

from __future__ import annotations

import pytest
from lxml import etree

from exchange.errors import DocumentError
from exchange.soap.contract import messages_schema
from exchange.soap.envelope import SoapVersion, fault_response, parse_envelope, version_from_content_type
from exchange.soap.faults import FaultCode, Problem, SoapFault, problems_of
from exchange.xml.safe import Limits
from tests.soap.support import MRA, SOAP11, SOAP12, envelope

LIMITS = Limits(max_bytes=1 << 20, max_depth=32)


@pytest.mark.parametrize(("version", "expected"), [("1.1", SoapVersion.V11), ("1.2", SoapVersion.V12)])
def test_the_version_is_the_envelope_namespace(version: str, expected: SoapVersion) -> None:
    parsed = parse_envelope(envelope("<mra:ListPending/>", version=version, header="<h/>"), LIMITS)
    assert parsed.version is expected
    assert parsed.payload.tag == f"{{{MRA}}}ListPending"
    assert parsed.header is not None


@pytest.mark.parametrize(
    "body",
    [
        "<mra:A/><mra:B/>",  # two operations
        "",  # none
        "text<mra:A/>",  # text beside it
    ],
)
def test_the_body_holds_exactly_one_element(body: str) -> None:
    with pytest.raises(SoapFault) as caught:
        parse_envelope(envelope(body), LIMITS)
    assert caught.value.code is FaultCode.MALFORMED


def test_the_header_comes_first_and_once() -> None:
    data = f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><a/></s:Body><s:Header/></s:Envelope>'.encode()
    with pytest.raises(SoapFault):
        parse_envelope(data, LIMITS)


def test_content_types_pick_the_version_of_early_faults() -> None:
    assert version_from_content_type("application/soap+xml; charset=utf-8") is SoapVersion.V12
    assert version_from_content_type("text/xml") is SoapVersion.V11
    assert version_from_content_type("") is SoapVersion.V11


@pytest.mark.parametrize("version", list(SoapVersion))
@pytest.mark.parametrize("code", list(FaultCode))
def test_every_fault_detail_validates_against_the_contract(version: SoapVersion, code: FaultCode) -> None:
    fault = SoapFault(code, "what went wrong", problems=[Problem("bad", 3, 7, "/a/b"), Problem("worse")])
    status, body = fault_response(version, fault, "9b2f6c1e-0000-4000-8000-000000000000")
    root = etree.fromstring(body)
    detail = root.find(f".//{{{MRA}}}FaultDetail")
    assert detail is not None and messages_schema().is_valid(detail)
    assert root.tag == f"{{{version.namespace}}}Envelope"
    expected = 413 if code is FaultCode.TOO_LARGE else 500
    if version is SoapVersion.V12 and code not in (
        FaultCode.TOO_LARGE,
        FaultCode.UNAVAILABLE,
        FaultCode.INTERNAL,
        FaultCode.MUST_UNDERSTAND,
    ):
        expected = 400
    assert status == expected


def test_the_soap12_fault_carries_the_code_as_subcode() -> None:
    _, body = fault_response(SoapVersion.V12, SoapFault(FaultCode.DUPLICATE, "again"), "r-1")
    root = etree.fromstring(body)
    values = [v.text for v in root.iter(f"{{{SOAP12}}}Value")]
    assert values == ["soap:Sender", "mra:DUPLICATE"]


def test_validator_messages_become_located_problems() -> None:
    exc = DocumentError("invalid", messages=["12:5 at /nz:A/nz:B: not valid", "odd message"])
    assert problems_of(exc) == [Problem("not valid", 12, 5, "/nz:A/nz:B"), Problem("odd message")]
