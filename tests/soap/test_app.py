"""The endpoint's defences, each refused with its fault code and audited: hostile XML in
the envelope, oversized bodies, wrong or replayed credentials, one partner reaching for
another's messages, headers and operations it does not know."""

from __future__ import annotations

import base64
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import zeep
from lxml import etree
from zeep.wsse.username import UsernameToken

from exchange.soap import SoapSettings
from tests.soap.conftest import EndpointFactory
from tests.soap.support import (
    CONTENT_TYPES,
    MRA,
    SECRETS,
    Endpoint,
    envelope,
    expect_fault,
    nz_document,
    post,
)

VERIFY = "<mra:VerifyCertificate><mra:CertificateNumber>{}</mra:CertificateNumber></mra:VerifyCertificate>"

# -- hostile XML ------------------------------------------------------------------------


def test_xxe_in_the_envelope_is_refused_unread_and_audited(endpoint: Endpoint) -> None:
    secret = endpoint.folder / "nz.secret"
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'.encode()
        + envelope(VERIFY.format("&xxe;"))
    )
    response = post(endpoint.url, body)
    assert response.status == 500
    assert response.fault() == ("MALFORMED", "soap:Client")
    assert b"DOCTYPE" in response.body
    assert SECRETS["nz"].encode() not in response.body
    rejected = endpoint.last_rejection()
    assert rejected.details["code"] == "MALFORMED" and rejected.partner is None and rejected.actor == "soap"


def test_entity_expansion_in_the_envelope_is_refused(endpoint: Endpoint) -> None:
    lols = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    body = f'<!DOCTYPE s:Envelope [<!ENTITY l0 "lol">{lols}]>'.encode() + envelope(VERIFY.format("&l9;"))
    assert post(endpoint.url, body).fault()[0] == "MALFORMED"
    assert endpoint.last_rejection().details["code"] == "MALFORMED"


def test_a_doctype_in_another_encoding_is_refused_too(endpoint: Endpoint) -> None:
    text = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE s:Envelope [<!ENTITY x "y">]>'
        + envelope(VERIFY.format("&x;")).decode()
    )
    assert post(endpoint.url, text.encode("utf-16")).fault()[0] == "MALFORMED"


def test_xxe_inside_a_submitted_document_is_refused(endpoint: Endpoint) -> None:
    secret = endpoint.folder / "nz.secret"
    doc = nz_document().replace(
        b"?>", f'?>\n<!DOCTYPE nz:ProductCertificate [<!ENTITY x SYSTEM "file://{secret}">]>'.encode(), 1
    )
    exc = expect_fault("MALFORMED", endpoint.service("nz").SubmitDocument, MessageId="nz-xxe", Document=doc)
    assert "DOCTYPE" in exc.message and SECRETS["nz"] not in exc.message
    assert endpoint.last_rejection().partner == "nz"


def test_nesting_beyond_the_limit_is_refused(endpoint: Endpoint) -> None:
    deep = "<mra:x>" * 40 + "</mra:x>" * 40
    response = post(endpoint.url, envelope(deep))
    assert response.fault()[0] == "MALFORMED"
    assert "deeper" in endpoint.last_rejection().details["reason"]


@pytest.mark.parametrize("body", [b"", b"not xml at all", b"<a><b></a>", b'<html xmlns="urn:x"/>'])
def test_what_is_not_a_soap_envelope_is_malformed(endpoint: Endpoint, body: bytes) -> None:
    response = post(endpoint.url, body)
    assert response.status == 500
    assert response.fault()[0] == "MALFORMED"


def test_an_unknown_envelope_namespace_is_a_version_mismatch(endpoint: Endpoint) -> None:
    body = envelope(VERIFY.format("2019010907123456")).replace(
        b"http://schemas.xmlsoap.org/soap/envelope/", b"urn:not-soap"
    )
    assert post(endpoint.url, body).fault() == ("MALFORMED", "soap:VersionMismatch")


# -- size ---------------------------------------------------------------------------------


def test_a_declared_length_over_the_limit_is_refused_before_reading(endpoint: Endpoint) -> None:
    parts = urlsplit(endpoint.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /soap/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 1000000000\r\n\r\n<s:Envelope"  # and then nothing: it is never read
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in head.lower()
    assert b"<mra:Code>TOO_LARGE</mra:Code>" in body
    rejected = endpoint.last_rejection()
    assert rejected.details["code"] == "TOO_LARGE" and rejected.details["contentLength"] == 1000000000


def test_a_chunked_body_over_the_limit_is_refused(endpoint_factory: EndpointFactory) -> None:
    endpoint = endpoint_factory(settings=SoapSettings(max_body_bytes=64 * 1024))
    chunks = [b"<s:Envelope>" + b" " * 8192 for _ in range(12)]
    assert post(endpoint.url, iter(chunks)).fault()[0] == "TOO_LARGE"


def test_a_zeep_submission_over_the_limit_is_refused(endpoint_factory: EndpointFactory) -> None:
    endpoint = endpoint_factory(settings=SoapSettings(max_body_bytes=64 * 1024))
    big = nz_document().replace(b"</nz:Models>", b"<nz:Model>M</nz:Model>" * 4000 + b"</nz:Models>")
    assert len(big) > 64 * 1024
    expect_fault("TOO_LARGE", endpoint.service("nz").SubmitDocument, MessageId="nz-big", Document=big)
    # A submission within the limit still goes through on the same endpoint.
    assert endpoint.service("nz").SubmitDocument(MessageId="nz-small", Document=nz_document())


# -- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_wrong_secret_is_refused_and_audited(endpoint: Endpoint, version: str) -> None:
    service = endpoint.service("nz", secret="not-the-secret-at-all", version=version)
    exc = expect_fault("NOT_AUTHENTICATED", service.VerifyCertificate, CertificateNumber="2019010907123456")
    assert exc.message == "authentication failed"
    assert exc.code == ("wsse:FailedAuthentication" if version == "1.1" else "soap:Sender")
    rejected = endpoint.last_rejection()
    assert rejected.partner is None and rejected.actor == "soap"
    assert (rejected.details["username"], rejected.details["reason"]) == ("nz", "wrong password digest")
    assert rejected.details["remote"] == "127.0.0.1"


def test_an_unknown_user_is_refused_like_a_wrong_password(endpoint: Endpoint) -> None:
    service = endpoint.service("nz", username="mallory")
    exc = expect_fault("NOT_AUTHENTICATED", service.ListPending)
    assert exc.message == "authentication failed"
    assert endpoint.last_rejection().details["reason"] == "unknown username"


def test_a_request_without_ws_security_is_refused(endpoint: Endpoint) -> None:
    response = post(endpoint.url, envelope(VERIFY.format("2019010907123456")))
    assert response.fault() == ("NOT_AUTHENTICATED", "wsse:FailedAuthentication")


def test_a_replayed_request_is_refused(endpoint: Endpoint) -> None:
    body = endpoint.raw_request("nz", "ListPending")
    assert post(endpoint.url, body).status == 200
    replay = post(endpoint.url, body)
    assert replay.fault()[0] == "NOT_AUTHENTICATED"
    assert endpoint.last_rejection().details["reason"] == "nonce replayed"


def test_a_stale_created_time_is_refused(endpoint: Endpoint) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    token = UsernameToken("nz", SECRETS["nz"], use_digest=True, created=old)
    expect_fault("NOT_AUTHENTICATED", endpoint.service("nz", wsse=token).ListPending)
    assert "outside the accepted window" in endpoint.last_rejection().details["reason"]


def test_a_plain_text_password_is_refused_over_plain_http(endpoint: Endpoint) -> None:
    token = UsernameToken("nz", SECRETS["nz"], use_digest=False)
    expect_fault("NOT_AUTHENTICATED", endpoint.service("nz", wsse=token).ListPending)
    assert "TLS only" in endpoint.last_rejection().details["reason"]


# -- one partner, another partner's messages ---------------------------------------------


@pytest.fixture
def eu_message(endpoint: Endpoint) -> str:
    from exchange.audit import AuditEntry, AuditEvent

    endpoint.store.enqueue_for_pull("eu", "eu-out-1", "glp", "facility-1", b"<eu-doc/>")
    endpoint.audit.append(AuditEntry(AuditEvent.SEND_ENQUEUED, message_id="eu-out-1", partner="eu"))
    endpoint.audit.flush()
    return "eu-out-1"


def test_a_partner_cannot_see_pull_or_acknowledge_another_partners_documents(
    endpoint: Endpoint, eu_message: str
) -> None:
    nz = endpoint.service("nz")
    assert nz.ListPending().PendingDocument == []
    exc = expect_fault("UNKNOWN_DOCUMENT", nz.PullDocument, MessageId=eu_message)
    assert "eu" not in exc.message.replace(eu_message, "")  # the owner is not disclosed
    expect_fault("UNKNOWN_DOCUMENT", nz.AcknowledgeDocument, MessageId=eu_message, Outcome="OK")
    expect_fault("UNKNOWN_DOCUMENT", nz.GetDeliveryStatus, MessageId=eu_message)

    entry = endpoint.store.outbox_entry(eu_message)
    assert entry is not None and entry.state == "PENDING"
    refusals = [e for e in endpoint.audit.trace(eu_message) if str(e.event) == "REJECTED"]
    assert len(refusals) == 3
    for refusal in refusals:
        assert refusal.partner is None and refusal.actor == "soap:nz"
        assert refusal.details["code"] == "UNKNOWN_DOCUMENT" and refusal.details["caller"] == "nz"
    # The owner's view is untouched by the attempts.
    eu = endpoint.service("eu")
    assert eu.GetDeliveryStatus(MessageId=eu_message).State == "SEND_ENQUEUED"
    assert eu.PullDocument(MessageId=eu_message).Document == b"<eu-doc/>"


# -- envelope rules -----------------------------------------------------------------------


def _with_header_block(body: bytes, block: str) -> bytes:
    root = etree.fromstring(body)
    header = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Header")
    assert header is not None
    header.append(etree.fromstring(block))
    return etree.tostring(root)


def test_a_mandatory_header_we_do_not_understand_is_refused(endpoint: Endpoint) -> None:
    body = endpoint.raw_request("nz", "ListPending")
    block = (
        '<t:Trace xmlns:t="urn:t" xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:mustUnderstand="1"/>'
    )
    assert post(endpoint.url, _with_header_block(body, block)).fault() == (
        "MUST_UNDERSTAND",
        "soap:MustUnderstand",
    )
    optional = block.replace('s:mustUnderstand="1"', 's:mustUnderstand="0"')
    assert (
        post(endpoint.url, _with_header_block(endpoint.raw_request("nz", "ListPending"), optional)).status
        == 200
    )


def test_an_unknown_operation_is_refused(endpoint: Endpoint) -> None:
    root = etree.fromstring(endpoint.raw_request("nz", "ListPending"))
    body = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None
    body[0].tag = f"{{{MRA}}}DeleteEverything"
    assert post(endpoint.url, etree.tostring(root)).fault()[0] == "UNKNOWN_OPERATION"


def test_a_request_against_the_schema_names_line_and_path(endpoint: Endpoint) -> None:
    root = etree.fromstring(endpoint.raw_request("nz", "PullDocument", MessageId="ok"))
    message_id = root.find(f".//{{{MRA}}}MessageId")
    assert message_id is not None
    message_id.text = "has spaces"
    response = post(endpoint.url, etree.tostring(root, pretty_print=True))
    assert response.fault()[0] == "SCHEMA_INVALID"
    problem = etree.fromstring(response.body).find(f".//{{{MRA}}}Problem")
    assert problem is not None
    assert int(problem.get("line", "0")) > 1 and problem.get("path", "").endswith("MessageId")


def test_the_fault_follows_the_soap_version_of_the_request(endpoint: Endpoint) -> None:
    response = post(endpoint.url, b"junk", content_type=CONTENT_TYPES["1.2"])
    assert response.status == 400
    assert response.headers["content-type"].startswith("application/soap+xml")
    assert response.fault() == ("MALFORMED", "soap:Sender")


# -- HTTP ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/soap/v1", 405), ("PUT", "/soap/v1", 405), ("GET", "/", 404),
     ("GET", "/soap/../exchange/config.py", 404), ("GET", "/soap/agreements.toml", 404)],
)  # fmt: skip
def test_other_paths_and_methods(endpoint: Endpoint, method: str, path: str, status: int) -> None:
    response = post(endpoint.server.base_url + path, b"", method=method)
    assert response.status == status


def test_zeep_reports_a_transport_error_for_a_wrong_address(endpoint: Endpoint) -> None:
    client = zeep.Client(endpoint.document, wsse=UsernameToken("nz", SECRETS["nz"], use_digest=True))
    service = client.create_service(
        "{urn:mra-exchange:soap:1.0:wsdl}ExchangeSoap11", endpoint.server.base_url + "/elsewhere"
    )
    with pytest.raises(zeep.exceptions.TransportError):
        service.ListPending()


def test_every_refusal_is_durable_before_the_response(endpoint: Endpoint) -> None:
    from exchange.audit import open_store

    post(endpoint.url, b"junk")
    with open_store(f"sqlite:///{endpoint.folder / 'audit.db'}", create=False) as reader:
        assert [str(e.event) for e in reader.export(None, None)] == ["REJECTED"]


def test_base64_of_the_document_may_be_wrapped(endpoint: Endpoint) -> None:
    root = etree.fromstring(endpoint.raw_request("nz", "SubmitDocument", MessageId="nz-wrap", Document=b"x"))
    doc = root.find(f".//{{{MRA}}}Document")
    assert doc is not None
    doc.text = base64.encodebytes(nz_document()).decode()  # MIME style: 76 columns
    assert post(endpoint.url, etree.tostring(root)).status == 200
