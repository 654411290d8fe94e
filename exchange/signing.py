"""XML Signatures: our signing key pair, enveloped signatures on what we vouch for, and
checks of partners' signatures against the certificate their agreement names.

Keys come from configuration (EXCHANGE_SIGNING_KEY / EXCHANGE_SIGNING_CERT, PEM file
paths), never from the repository; `exchange keys generate` makes a development pair.
Signatures are enveloped, over the whole element, referenced by the element's `Id`
(`Reference URI="#<Id>"`), with exclusive canonicalisation: an element signed on its own
verifies in place once embedded in a SOAP envelope, with xmlsec1's `--id-attr:Id` as with
ours (docs/signatures.md). Verification accepts one reference only, to the element being
verified itself (its Id, or "" for a standalone element), so a signature over some other
element can never vouch for the one we read (signature wrapping).
"""

from __future__ import annotations

import copy
import datetime
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
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
from exchange.xml.safe import parse_bytes

ENV_KEY = "EXCHANGE_SIGNING_KEY"
ENV_CERT = "EXCHANGE_SIGNING_CERT"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
KEY_FILE = "signing-key.pem"
CERT_FILE = "signing-cert.pem"

ID_ATTRIBUTE = "Id"
"""The attribute a signature's Reference names (xs:ID in our schemas, unqualified)."""

_EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
_SIGNATURE = f"{{{DS_NS}}}Signature"
_REFERENCE = f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference"
_NOT_NCNAME = re.compile(r"[^A-Za-z0-9._-]")


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

    def sign_bytes(self, data: bytes) -> bytes:
        """A detached signature over `data` (RSA PKCS#1 v1.5 or ECDSA, SHA-256): for small
        records of our own, such as the audit store's sealed checkpoints."""
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))

    def sign(self, element: etree._Element, *, id_value: str | None = None) -> etree._Element:
        """A signed copy of `element`, ds:Signature as its last child, referencing the
        element by its Id: the one it has, else `id_value` (made an xs:ID), else a random
        one. The input is untouched."""
        element = copy.deepcopy(element)
        ref = element.get(ID_ATTRIBUTE)
        if ref is None:
            ref = xml_id(id_value) if id_value else f"id-{uuid.uuid4()}"
            element.set(ID_ATTRIBUTE, ref)
        signer = XMLSigner(  # one per call: XMLSigner keeps per-signature state
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=self._method,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=_EXC_C14N,
        )
        signed: etree._Element = signer.sign(
            element, key=self._key, cert=self._chain, reference_uri=f"#{ref}", id_attribute=ID_ATTRIBUTE
        )
        return signed


def sign_document(signer: Signer, document: bytes, message_id: str | None = None) -> bytes:
    """A partner document signed as our transports send it: the root referenced by its Id
    (`doc-` + the message id). A document that carries a signature already is kept as is
    (re-signing would change bytes a partner may hold: EC signatures are randomised)."""
    root = parse_bytes(document)
    if has_signature(root):
        return document
    signed = signer.sign(root, id_value=f"doc-{message_id}" if message_id else None)
    return etree.tostring(signed, xml_declaration=True, encoding="utf-8")


def xml_id(value: str) -> str:
    """`value` as an xs:ID (an NCName): characters an NCName refuses become "_", and one
    that does not start with a letter or "_" gets an "id-" prefix."""
    out = _NOT_NCNAME.sub("_", value)
    return out if out[:1].isalpha() or out[:1] == "_" else f"id-{out}"


def verify_bytes(cert_pem: bytes, data: bytes, signature: bytes) -> None:
    """SignatureInvalid unless `signature` is the certificate's key's over `data` (sign_bytes)."""
    try:
        key = x509.load_pem_x509_certificate(cert_pem).public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise SignatureInvalid("the certificate's key is neither RSA nor EC")
    except (InvalidSignature, ValueError) as exc:
        raise SignatureInvalid(f"the signature does not verify: {type(exc).__name__}") from None


def has_signature(root: etree._Element) -> bool:
    """True when the element carries an enveloped signature (a ds:Signature child)."""
    return root.find(_SIGNATURE) is not None


def verify_enveloped(root: etree._Element, cert_pem: bytes) -> etree._Element:
    """What the signature covers, signature removed; SignatureInvalid otherwise.

    `root` is the element we are about to read (a document root, or a receipt inside a
    SOAP response, in place). It must carry exactly one ds:Signature, as a child, with
    one Reference to `root` itself: `#` + its Id, or "" (the whole element, as signed
    standalone before Ids). The element is verified cut out of its context, so an Id can
    only resolve inside it, where it must be unique. Only the returned element is
    trustworthy ("see what is signed"). `root` must come from the hardened parser.
    """
    _check_reference(root)
    # Its own document, so "" and "#Id" both mean this element (a root already is one).
    standalone = root if root.getparent() is None else copy.deepcopy(root)
    config = SignatureConfiguration(location="./", expect_references=1)
    try:
        result = XMLVerifier().verify(
            standalone, x509_cert=cert_pem.decode("ascii"), expect_config=config, id_attribute=ID_ATTRIBUTE
        )
    except (SignXMLException, InvalidInput, ValueError) as exc:
        raise SignatureInvalid(f"the signature does not verify: {exc}") from None
    assert not isinstance(result, list)  # one reference expected: one result
    signed = result.signed_xml
    if signed is None:
        raise SignatureInvalid("the signature covers no XML element")
    return signed


def _check_reference(root: etree._Element) -> None:
    """The guard against signature wrapping: one signature, a child of `root`, over `root`."""
    signatures = list(root.iter(_SIGNATURE))
    if len(signatures) != 1 or signatures[0].getparent() is not root:
        raise SignatureInvalid(
            f"expected one enveloped ds:Signature as a child of {etree.QName(root).localname}, "
            f"found {len(signatures)} signature(s)" + ("" if len(signatures) != 1 else " elsewhere")
        )
    references = signatures[0].findall(_REFERENCE)
    if len(references) != 1:
        raise SignatureInvalid(f"expected one signed Reference, found {len(references)}")
    uri = references[0].get("URI")
    own = root.get(ID_ATTRIBUTE)
    if uri == "" or (own is not None and uri == f"#{own}"):
        return
    raise SignatureInvalid(
        f"the signature references {uri!r}, not the {etree.QName(root).localname} element "
        f"itself ({'#' + own if own else 'it has no Id'})"
    )


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
