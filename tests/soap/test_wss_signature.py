"""The message-signature checks one by one, with a pinned clock: what our signer makes
verifies (RSA and ECDSA, also with zeep), and every way around the signature is refused:
wrapping (a second element with the signed id), references elsewhere, other transforms,
clock skew, age, a second Security header."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from zeep.wsse.signature import verify_envelope

from exchange.signing import KeyPairFiles
from exchange.soap.wss_signature import MessageSignatureError, WssSigner, WssVerifier

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ENVELOPE = (
    f'<s:Envelope xmlns:s="{SOAP11}"><s:Body><m:Pay xmlns:m="urn:test"><m:To>alice</m:To>'
    "</m:Pay></s:Body></s:Envelope>"
).encode()


@pytest.fixture(scope="module")
def keys(partner_keys: dict[str, KeyPairFiles]) -> KeyPairFiles:
    return partner_keys["nz"]


def signed(keys: KeyPairFiles, *, at: datetime = NOW, ttl_s: int = 300) -> etree._Element:
    signer = WssSigner(keys.key.read_bytes(), keys.certificate.read_bytes(), ttl_s=ttl_s)
    return signer.sign(etree.fromstring(ENVELOPE), now=at)


def verifier(at: datetime = NOW) -> WssVerifier:
    return WssVerifier(max_skew_s=300, max_age_s=300, clock=at.timestamp)


def refused(envelope: etree._Element, cert: bytes, at: datetime = NOW) -> str:
    reparsed = etree.fromstring(etree.tostring(envelope))  # as received: bytes, parsed again
    with pytest.raises(MessageSignatureError) as caught:
        verifier(at).verify(reparsed, cert)
    return caught.value.reason


def test_what_we_sign_verifies_here_and_with_zeep(keys: KeyPairFiles, tmp_path: Path) -> None:
    envelope = etree.fromstring(etree.tostring(signed(keys)))
    verified = verifier().verify(envelope, keys.certificate.read_bytes())
    assert verified.expires - verified.created == 300
    verify_envelope(envelope, str(keys.certificate))  # zeep: raises when it does not verify


def test_an_ecdsa_key_signs_with_ecdsa_sha256(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec partner")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=9))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    envelope = WssSigner(key_pem, cert_pem).sign(etree.fromstring(ENVELOPE), now=NOW)
    method = envelope.find(f".//{{{DS}}}SignatureMethod")
    assert method is not None and method.get("Algorithm", "").endswith("#ecdsa-sha256")
    verifier().verify(etree.fromstring(etree.tostring(envelope)), cert_pem)
    (tmp_path / "ec.pem").write_bytes(cert_pem)
    verify_envelope(etree.fromstring(etree.tostring(envelope)), str(tmp_path / "ec.pem"))


def test_a_changed_body_does_not_verify(keys: KeyPairFiles) -> None:
    envelope = signed(keys)
    to = envelope.find(".//{urn:test}To")
    assert to is not None
    to.text = "mallory"
    assert "does not verify" in refused(envelope, keys.certificate.read_bytes())


def test_signature_wrapping_is_refused(keys: KeyPairFiles) -> None:
    """The signed Body moved into a header, a new Body with the same id: refused."""
    envelope = signed(keys)
    header, body = envelope[0], envelope[1]
    header.append(etree.Element("{urn:test}Wrapper"))
    header[-1].append(copy.deepcopy(body))
    to = body.find(".//{urn:test}To")
    assert to is not None
    to.text = "mallory"
    assert "not unique" in refused(envelope, keys.certificate.read_bytes())


def test_an_xml_id_twin_is_refused(keys: KeyPairFiles) -> None:
    envelope = signed(keys)
    body_id = envelope[1].get(f"{{{WSU}}}Id")
    twin = etree.SubElement(envelope[0], "{urn:test}Twin")
    twin.set("{http://www.w3.org/XML/1998/namespace}id", str(body_id))
    assert "not unique" in refused(envelope, keys.certificate.read_bytes())


def test_a_reference_to_something_else_is_refused(keys: KeyPairFiles) -> None:
    envelope = signed(keys)
    reference = envelope.find(f".//{{{DS}}}Reference")
    assert reference is not None
    reference.set("URI", "#elsewhere")
    assert "is not to the Body or the Timestamp" in refused(envelope, keys.certificate.read_bytes())


def test_other_transforms_are_refused(keys: KeyPairFiles) -> None:
    envelope = signed(keys)
    transform = envelope.find(f".//{{{DS}}}Transform")
    assert transform is not None
    transform.set("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
    reason = refused(envelope, keys.certificate.read_bytes())
    assert "exclusive c14n (and enveloped-signature) transforms" in reason


@pytest.mark.parametrize(
    ("at", "ttl_s", "reason"),
    [
        (NOW + timedelta(minutes=6), 300, "in the future"),
        (NOW - timedelta(minutes=11), 300, "expired"),
        (NOW - timedelta(minutes=11), 3600, "too old"),
    ],
)
def test_the_timestamp_must_be_fresh(keys: KeyPairFiles, at: datetime, ttl_s: int, reason: str) -> None:
    assert reason in refused(signed(keys, at=at, ttl_s=ttl_s), keys.certificate.read_bytes())


def test_within_the_skew_is_accepted(keys: KeyPairFiles) -> None:
    """Created 4 minutes ahead, or expired 4 minutes ago: within five minutes' skew."""
    cert = keys.certificate.read_bytes()
    verifier().verify(etree.fromstring(etree.tostring(signed(keys, at=NOW + timedelta(minutes=4)))), cert)
    late = signed(keys, at=NOW - timedelta(minutes=9))
    verifier().verify(etree.fromstring(etree.tostring(late)), cert)


def test_a_second_security_header_is_refused(keys: KeyPairFiles) -> None:
    envelope = signed(keys)
    etree.SubElement(envelope[0], f"{{{WSSE}}}Security")
    assert "more than one" in refused(envelope, keys.certificate.read_bytes())


def test_another_partners_certificate_does_not_verify(
    keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    assert "not the partner's certificate" in refused(
        signed(keys), partner_keys["eu"].certificate.read_bytes()
    )
    envelope = signed(keys)
    token = envelope.find(f".//{{{WSSE}}}BinarySecurityToken")
    assert token is not None
    token.getparent().remove(token)  # type: ignore[union-attr]
    assert "does not verify" in refused(envelope, partner_keys["eu"].certificate.read_bytes())
