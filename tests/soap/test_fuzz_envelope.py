"""Fuzzing the SOAP envelope parser and the endpoint (issue 13): any bytes give an envelope
or a SoapFault with its code, and over the app a fault the client can read (never a crash,
never a traceback). Bounded: a few hundred examples."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from exchange.soap.envelope import parse_envelope
from exchange.soap.faults import SoapFault
from exchange.soap.loopback import Endpoint
from exchange.soap.preauth import HeaderBudget, read_preamble
from exchange.soap.settings import SoapSettings
from tests.soap.conftest import EndpointFactory
from tests.soap.support import SOAP11, envelope

FUZZ = settings(
    max_examples=100, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip
LIMITS = SoapSettings().envelope_limits()
VERIFY = (
    "<mra:VerifyCertificate><mra:CertificateNumber>2019010907123456</mra:CertificateNumber>"
    "</mra:VerifyCertificate>"
)
SEED = envelope(VERIFY, header="<w:Security xmlns:w='urn:x'><w:T a='1'/></w:Security>")
TOKENS = [
    b"<",
    b">",
    b"</s:Body>",
    b"<!DOCTYPE x>",
    b"&x;",
    b"<s:Header>",
    b'xmlns:s="urn:y"',
    b"\x00",
    b"\xff",
]
EDITS = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(0, 6), st.binary(max_size=6) | st.sampled_from(TOKENS)),
    min_size=1,
    max_size=5,
)


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for pos, cut, insert in edits:
        at = pos % (len(out) + 1)
        out[at : at + cut] = insert
    return bytes(out)


def _parse_both(data: bytes) -> None:
    for parse in (lambda d: parse_envelope(d, LIMITS), lambda d: read_preamble(d, HeaderBudget())):
        try:
            parse(data)
        except SoapFault as fault:
            assert fault.code.value and fault.message


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_parse_or_fault(data: bytes) -> None:
    _parse_both(data)


@settings(max_examples=150, deadline=None)
@given(EDITS)
def test_mutated_envelopes_parse_or_fault(edits: list[tuple[int, int, bytes]]) -> None:
    _parse_both(_mutate(SEED, edits))


def _call(endpoint: Endpoint, body: bytes, content_type: str) -> tuple[int, bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/soap/v1", "QUERY_STRING": "", "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.9",
        "wsgi.url_scheme": "http", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
    }  # fmt: skip
    status: list[int] = []
    data = b"".join(endpoint.app(environ, lambda s, h: status.append(int(s.split()[0]))))
    return status[0], data


@pytest.fixture
def endpoint(endpoint_factory: EndpointFactory) -> Endpoint:
    return endpoint_factory()


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=2000), EDITS.map(lambda e: _mutate(SEED, e))),
    content_type=st.sampled_from(["text/xml; charset=utf-8", "application/soap+xml", "", "x/\x7f"]),
)
def test_the_endpoint_answers_every_input_with_a_readable_fault(
    endpoint: Endpoint, body: bytes, content_type: str
) -> None:
    status, data = _call(endpoint, body, content_type)
    assert status in (200, 400, 413, 500)
    assert b"Traceback" not in data
    root = etree.fromstring(data)  # our answer is always a well-formed envelope
    assert etree.QName(root).localname == "Envelope"
    if status != 200:
        assert root.find(f".//{{{SOAP11}}}Fault") is not None or b"Fault" in data
        assert b"<mra:Code>INTERNAL</mra:Code>" not in data  # every refusal has its own reason
