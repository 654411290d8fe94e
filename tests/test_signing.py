"""exchange/signing.py: the development key pair, enveloped signatures that survive
embedding, and refusals of tampered content, other keys and mismatched pairs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from lxml import etree

from exchange.errors import ConfigError
from exchange.signing import (
    ENV_CERT,
    ENV_KEY,
    SignatureInvalid,
    Signer,
    generate_key_pair,
    has_signature,
    verify_enveloped,
)

DOC = b'<r:Receipt xmlns:r="urn:r"><r:Id>1</r:Id><r:Text>\xe5\x8f\x97\xe7\x90\x86</r:Text></r:Receipt>'


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Signer]:
    out = tmp_path_factory.mktemp("keys")
    files = generate_key_pair(out)
    return out, Signer.from_files(files.key, files.certificate)


def test_the_development_pair_is_private_and_not_overwritten(pair: tuple[Path, Signer]) -> None:
    out, _ = pair
    key = out / "signing-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY")
    with pytest.raises(ConfigError, match="already holds a key pair"):
        generate_key_pair(out)


def test_force_replaces_the_pair(tmp_path: Path) -> None:
    first = generate_key_pair(tmp_path).key.read_bytes()
    assert generate_key_pair(tmp_path, force=True).key.read_bytes() != first


def test_a_signed_element_verifies_even_inside_another_document(pair: tuple[Path, Signer]) -> None:
    _, signer = pair
    original = etree.fromstring(DOC)
    signed = signer.sign(original)
    assert has_signature(signed) and not has_signature(original)
    wrapper = etree.fromstring(b'<e:Envelope xmlns:e="urn:e" xmlns:x="urn:unused"><e:Body/></e:Envelope>')
    wrapper[0].append(signed)
    embedded = etree.fromstring(etree.tostring(wrapper))[0][0]
    verified = verify_enveloped(embedded, signer.cert_pem)
    assert etree.tostring(verified) == etree.tostring(etree.fromstring(DOC))


def test_tampered_content_does_not_verify(pair: tuple[Path, Signer]) -> None:
    _, signer = pair
    signed = signer.sign(etree.fromstring(DOC))
    signed[0].text = "2"
    with pytest.raises(SignatureInvalid, match="Digest mismatch"):
        verify_enveloped(signed, signer.cert_pem)


def test_another_key_does_not_verify(pair: tuple[Path, Signer], tmp_path: Path) -> None:
    _, signer = pair
    other = generate_key_pair(tmp_path)
    signed = Signer.from_files(other.key, other.certificate).sign(etree.fromstring(DOC))
    with pytest.raises(SignatureInvalid):
        verify_enveloped(signed, signer.cert_pem)


def test_a_certificate_of_another_key_is_refused_at_start(pair: tuple[Path, Signer], tmp_path: Path) -> None:
    out, _ = pair
    other = generate_key_pair(tmp_path)
    with pytest.raises(ConfigError, match="does not belong"):
        Signer.from_files(out / "signing-key.pem", other.certificate)


def test_keys_come_from_the_environment(pair: tuple[Path, Signer]) -> None:
    out, signer = pair
    env = {ENV_KEY: str(out / "signing-key.pem"), ENV_CERT: str(out / "signing-cert.pem")}
    assert Signer.from_env(env).cert_pem == signer.cert_pem
    with pytest.raises(ConfigError, match="exchange keys generate"):
        Signer.from_env({})
    with pytest.raises(ConfigError, match="cannot read"):
        Signer.from_env({ENV_KEY: str(out / "nope.pem"), ENV_CERT: str(out / "nope.pem")})
