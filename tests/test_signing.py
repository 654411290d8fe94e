"""exchange/signing.py: the development key pair, enveloped signatures by Id reference that
survive embedding, and refusals of tampered content, other keys, mismatched pairs and
wrapped signatures (a signature over another element than the one read)."""

from __future__ import annotations

import copy
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
    xml_id,
)

DS = "http://www.w3.org/2000/09/xmldsig#"
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
    reference = signed.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo/{{{DS}}}Reference")
    assert reference is not None and reference.get("URI") == f"#{signed.get('Id')}"
    expected = etree.fromstring(DOC)
    expected.set("Id", str(signed.get("Id")))
    assert etree.tostring(verified) == etree.tostring(expected)
    assert original.get("Id") is None  # the input is untouched


def test_the_id_comes_from_the_element_or_the_caller(pair: tuple[Path, Signer]) -> None:
    _, signer = pair
    assert signer.sign(etree.fromstring(DOC), id_value="receipt-1f0e").get("Id") == "receipt-1f0e"
    assert signer.sign(etree.fromstring(DOC), id_value="nz:42/7").get("Id") == "nz_42_7"
    own = etree.fromstring(DOC)
    own.set("Id", "doc1")
    assert signer.sign(own, id_value="ignored").get("Id") == "doc1"
    assert xml_id("2019010907123456") == "id-2019010907123456"


def test_a_legacy_signature_over_the_whole_element_still_verifies(pair: tuple[Path, Signer]) -> None:
    """Receipts and documents signed before Ids (Reference URI="") verify standalone."""
    from signxml import SignatureConstructionMethod, XMLSigner

    out, signer = pair
    legacy = XMLSigner(method=SignatureConstructionMethod.enveloped).sign(
        etree.fromstring(DOC), key=(out / "signing-key.pem").read_bytes(), cert=signer.cert_pem
    )
    reference = legacy.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo/{{{DS}}}Reference")
    assert reference is not None and reference.get("URI") == ""
    assert (
        verify_enveloped(etree.fromstring(etree.tostring(legacy)), signer.cert_pem).findtext("{urn:r}Id")
        == "1"
    )


def test_a_signature_over_another_element_is_refused(pair: tuple[Path, Signer]) -> None:
    """Signature wrapping: a genuine signature moved onto a forged root does not vouch for it."""
    _, signer = pair
    genuine = signer.sign(etree.fromstring(DOC), id_value="r1")
    signature = genuine[-1]
    forged = etree.fromstring(b'<r:Receipt xmlns:r="urn:r" Id="forged"><r:Id>666</r:Id></r:Receipt>')
    genuine.remove(signature)
    forged.append(genuine)  # the signed original rides along, its signature moved up
    forged.append(signature)
    with pytest.raises(SignatureInvalid, match="references '#r1', not the Receipt element itself"):
        verify_enveloped(forged, signer.cert_pem)
    forged.set("Id", "r1")  # the forged root takes the same Id: now two elements claim it
    with pytest.raises(SignatureInvalid, match="Ambiguous reference"):
        verify_enveloped(forged, signer.cert_pem)


def test_a_signature_not_on_the_element_itself_is_refused(pair: tuple[Path, Signer]) -> None:
    _, signer = pair
    inner = signer.sign(etree.fromstring(DOC), id_value="inner")
    outer = etree.fromstring(b'<r:Receipt xmlns:r="urn:r" Id="inner"/>')
    outer.append(inner)  # a signed element inside: its signature is a grandchild
    with pytest.raises(SignatureInvalid, match="found 1 signature\\(s\\) elsewhere"):
        verify_enveloped(outer, signer.cert_pem)
    twice = signer.sign(etree.fromstring(DOC), id_value="twice")
    twice.append(copy.deepcopy(twice[-1]))
    with pytest.raises(SignatureInvalid, match="found 2 signature"):
        verify_enveloped(twice, signer.cert_pem)


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
