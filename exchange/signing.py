"""XML Signatures: our signing key pair, enveloped signatures on what we vouch for, and
checks of partners' signatures against the certificate their agreement names.

Keys come from configuration (EXCHANGE_SIGNING_KEY / EXCHANGE_SIGNING_CERT, PEM file
paths), never from the repository; `exchange keys generate` makes a development pair.
Signatures are enveloped, over the whole element, with exclusive canonicalisation so an
element signed on its own still verifies once embedded in a SOAP envelope.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import InvalidInput, SignXMLException
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from exchange.errors import ConfigError, ExchangeError

ENV_KEY = "EXCHANGE_SIGNING_KEY"
ENV_CERT = "EXCHANGE_SIGNING_CERT"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
KEY_FILE = "signing-key.pem"
CERT_FILE = "signing-cert.pem"

_EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
_SIGNATURE = f"{{{DS_NS}}}Signature"


class SignatureInvalid(ExchangeError):
    """A signature does not verify: tampered content, another key, or a refused algorithm."""


@dataclass(frozen=True, slots=True)
class KeyPairFiles:
    key: Path
    certificate: Path


class Signer:
    """Signs elements with one private key; the certificate goes in KeyInfo."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, *, passphrase: bytes | None = None):
        try:
            key = serialization.load_pem_private_key(key_pem, password=passphrase)
            cert = x509.load_pem_x509_certificate(cert_pem)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"signing key or certificate cannot be read: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ConfigError("the signing key must be an RSA or EC key")
        if cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise ConfigError("the signing certificate does not belong to the signing key")
        self._key = key
        self._chain = [cert]  # parsed once: signxml re-reads PEM text on every signature
        self._method = (
            SignatureMethod.RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) else SignatureMethod.ECDSA_SHA256
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def from_files(cls, key: Path, certificate: Path) -> Signer:
        try:
            return cls(key.read_bytes(), certificate.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read the signing key pair: {exc}") from None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Signer:
        """The key pair EXCHANGE_SIGNING_KEY / EXCHANGE_SIGNING_CERT name."""
        env = dict(os.environ) if env is None else env
        key, cert = env.get(ENV_KEY), env.get(ENV_CERT)
        if not key or not cert:
            raise ConfigError(
                f"no signing key pair: set {ENV_KEY} and {ENV_CERT} to PEM files "
                "(`exchange keys generate --out DIR` makes a development pair)"
            )
        return cls.from_files(Path(key), Path(cert))

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM, for libraries that read PEM (python-xmlsec
        for WS-Security message signatures, exchange/soap/wss_signature.py)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def sign(self, element: etree._Element) -> etree._Element:
        """A signed copy of `element`, ds:Signature as its last child. The input is untouched."""
        signer = XMLSigner(  # one per call: XMLSigner keeps per-signature state
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=self._method,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=_EXC_C14N,
        )
        signed: etree._Element = signer.sign(element, key=self._key, cert=self._chain)
        return signed


def has_signature(root: etree._Element) -> bool:
    """True when the element carries an enveloped signature (a ds:Signature child)."""
    return root.find(_SIGNATURE) is not None


def verify_enveloped(root: etree._Element, cert_pem: bytes) -> etree._Element:
    """What the signature covers, signature removed; SignatureInvalid otherwise.

    Only the returned element is trustworthy ("see what is signed"). `root` must come
    from the hardened parser: signxml re-serialises it, it never sees the raw bytes.
    """
    config = SignatureConfiguration(location="./", expect_references=1)
    try:
        result = XMLVerifier().verify(root, x509_cert=cert_pem.decode("ascii"), expect_config=config)
    except (SignXMLException, InvalidInput, ValueError) as exc:
        raise SignatureInvalid(f"the signature does not verify: {exc}") from None
    assert not isinstance(result, list)  # one reference expected: one result
    signed = result.signed_xml
    if signed is None:
        raise SignatureInvalid("the signature covers no XML element")
    return signed


def load_certificate(path: Path) -> bytes:
    """A PEM certificate from a file, checked to be one."""
    try:
        data = path.read_bytes()
        x509.load_pem_x509_certificate(data)
    except OSError as exc:
        raise ConfigError(f"cannot read certificate {path}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM certificate: {exc}") from None
    return data


def generate_key_pair(
    out: Path, *, common_name: str = "mra-exchange development", days: int = 365, force: bool = False
) -> KeyPairFiles:
    """A development key pair: RSA-3072 key (mode 0600) and a self-signed certificate."""
    files = KeyPairFiles(out / KEY_FILE, out / CERT_FILE)
    if not force and (files.key.exists() or files.certificate.exists()):
        raise ConfigError(f"{out} already holds a key pair (use --force to replace it)")
    out.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if files.key.exists():
        files.key.unlink()
    fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    files.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files
