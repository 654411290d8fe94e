"""The HTTP server: TLS for deployments (with PasswordText against a hash), a clean stop,
a clear error when the port is taken."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests
import zeep
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from zeep.wsse.username import UsernameToken

from exchange.soap import TlsSettings, serve
from exchange.soap.credentials import hash_password
from exchange.soap.settings import parse_address
from tests.soap.conftest import EndpointFactory
from tests.soap.support import SECRETS, agreements, expect_fault, nz_document

PASSWORD = "nz-tls-password-0123"


def _tls_pair(folder: Path) -> TlsSettings:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "tls-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tls-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return TlsSettings(folder / "tls-cert.pem", folder / "tls-key.pem")


def test_over_tls_a_plain_text_password_is_checked_against_its_hash(
    endpoint_factory: EndpointFactory, tmp_path: Path
) -> None:
    tls = _tls_pair(tmp_path)
    endpoint = endpoint_factory(agreements(nz={"soap_password_hash": hash_password(PASSWORD)}), tls=tls)
    assert endpoint.url.startswith("https://127.0.0.1:")
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace our CA
    session.verify = str(tls.certificate)
    transport = zeep.Transport(session=session)

    text = endpoint.service("nz", wsse=UsernameToken("nz", PASSWORD), transport=transport)
    receipt = text.SubmitDocument(MessageId="nz-tls-1", Document=nz_document())
    assert receipt.RecordId == "NZ-ESS-2021-0042"
    digest = endpoint.service("nz", transport=transport)  # the shared secret still works too
    assert digest.ListPending().More is False
    wrong = endpoint.service("nz", wsse=UsernameToken("nz", "not-the-password"), transport=transport)
    expect_fault("NOT_AUTHENTICATED", wrong.ListPending)
    assert endpoint.last_rejection().details["reason"] == "wrong password"


def test_plain_http_is_not_answered_on_a_tls_port(endpoint_factory: EndpointFactory, tmp_path: Path) -> None:
    endpoint = endpoint_factory(tls=_tls_pair(tmp_path))
    plain = endpoint.url.replace("https://", "http://")
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # the TLS handshake fails
        urllib.request.urlopen(plain + "?wsdl", timeout=5).read()


def test_a_taken_port_is_an_error_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            serve(lambda env, start: [], "127.0.0.1", port)


def test_stop_ends_serving(endpoint_factory: EndpointFactory) -> None:
    endpoint = endpoint_factory()
    assert endpoint.service("nz").ListPending().More is False
    endpoint.server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(endpoint.url + "?wsdl", timeout=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("0.0.0.0:0", ("0.0.0.0", 0)), ("[::1]:8443", ("::1", 8443))],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", ":80", "host:http", "host:70000"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_secrets_are_not_leaked_in_faults(endpoint_factory: EndpointFactory) -> None:
    endpoint = endpoint_factory()
    exc = expect_fault("NOT_AUTHENTICATED", endpoint.service("nz", secret="x" * 20).ListPending)
    assert SECRETS["nz"] not in str(exc.detail) and SECRETS["nz"] not in exc.message
