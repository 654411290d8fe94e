"""WS-Security 1.1 message signatures (OASIS WSS X.509 Token Profile), with python-xmlsec.

What we send: a `wsse:Security` header holding a `wsu:Timestamp` (Created, Expires), a
`wsse:BinarySecurityToken` with our X.509 certificate and a `ds:Signature` over the Body
and the Timestamp, each referenced by its `wsu:Id`: exclusive c14n, SHA-256 digests,
RSA-SHA256 or ECDSA-SHA256 (by our key's type), KeyInfo a SecurityTokenReference to the
token. That is the layout WSS4J/CXF, .NET and zeep's BinarySignature produce and expect.

What we accept: the same, verified against the certificate the partner's agreement names
(never against a certificate the message brings: a token that is not the partner's is
refused), covering exactly the Body we process and the Timestamp in the header we read
(by element, ids unique in the envelope: no signature wrapping), with only exclusive
c14n (and the no-op enveloped-signature) transforms and SHA-2 algorithms, and a Timestamp
that has not expired (clock skew allowed) and is not older than the accepted window.

The envelope is signed and checked as the lxml tree already parsed: nothing is re-parsed.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from exchange.errors import ConfigError, ExchangeError
from exchange.signing import Signer
from exchange.soap import ns

X509_TOKEN = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
TRANSFORMS = frozenset({EXC_C14N, ENVELOPED})
"""Reference transforms accepted. The enveloped-signature transform (node-soap's default) is
a no-op here: the signature sits in the header, never inside the Body or the Timestamp."""
SIGNATURE_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
DIGEST_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
MAX_REFERENCES = 8
DEFAULT_TTL_S = 300

_C = xmlsec.constants
_WSU_ID = ns.q(ns.WSU, "Id")
_SECURITY = ns.q(ns.WSSE, "Security")
_TIMESTAMP = ns.q(ns.WSU, "Timestamp")
_TOKEN = ns.q(ns.WSSE, "BinarySecurityToken")
_SIGNATURE = ns.q(ns.DS, "Signature")
_DS = {"ds": ns.DS}
_ENVELOPES = (ns.SOAP11, ns.SOAP12)


class Policy(StrEnum):
    """An agreement's `soap_wss_signature`."""

    OFF = "off"
    """No message signatures: pushes go unsigned, a partner's signature is not checked."""
    OPTIONAL = "optional"
    """Pushes are signed; a partner's request is verified when it carries a signature."""
    REQUIRED = "required"
    """Pushes are signed; a partner's request without a valid signature is refused."""

    @classmethod
    def from_option(cls, value: object, where: str, *, has_certificate: bool) -> Policy:
        """An agreement's `soap_wss_signature` (None: optional when the partner's certificate
        is configured, else off); ConfigError for anything else."""
        if value is None:
            return cls.OPTIONAL if has_certificate else cls.OFF
        try:
            policy = cls(str(value))
        except ValueError:
            choices = ", ".join(p.value for p in cls)
            raise ConfigError(f"{where}.soap_wss_signature must be one of {choices}, not {value!r}") from None
        if policy is not cls.OFF and not has_certificate:
            raise ConfigError(
                f"{where}.soap_wss_signature = {policy.value!r} needs the partner's certificate"
            )
        return policy


class MessageSignatureError(ExchangeError):
    """The message signature is missing, does not verify, or does not cover what it must."""

    def __init__(self, reason: str, *, missing: bool = False, expired: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.missing = missing
        self.expired = expired


def _wsu_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str | None, what: str) -> float:
    if not text:
        raise MessageSignatureError(f"the Timestamp has no {what}")
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MessageSignatureError(f"the Timestamp's {what} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise MessageSignatureError(f"the Timestamp's {what} has no time zone")
    return moment.timestamp()


def security_header(header: etree._Element | None) -> etree._Element | None:
    """The wsse:Security block meant for us (no actor / role), or None."""
    if header is None:
        return None
    found = None
    for block in header.iterchildren(_SECURITY):
        if any(str(k).endswith(("}actor", "}role")) for k in block.attrib):
            continue
        if found is not None:
            raise MessageSignatureError("more than one wsse:Security header for us")
        found = block
    return found


def carries_signature(header: etree._Element | None) -> bool:
    """True when the envelope's Header holds a wsse:Security with a ds:Signature."""
    if header is None:
        return False
    return any(block.find(_SIGNATURE) is not None for block in header.iterchildren(_SECURITY))


# -- signing -------------------------------------------------------------------------------


class WssSigner:
    """Signs envelopes (lxml trees, in place) with our key; also a zeep `wsse` plugin.

    The xmlsec key is loaded once and duplicated per signature (xmlsec copies it into each
    context), so one signer serves every thread."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, *, ttl_s: int = DEFAULT_TTL_S):
        try:
            self._key = xmlsec.Key.from_memory(key_pem, _C.KeyDataFormatPem, None)
            cert = x509.load_pem_x509_certificate(cert_pem)
            private = serialization.load_pem_private_key(key_pem, password=None)
        except (xmlsec.Error, ValueError, TypeError) as exc:
            raise ConfigError(f"the WS-Security key or certificate cannot be read: {exc}") from None
        self._token = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
        self._method = (
            _C.TransformRsaSha256 if isinstance(private, rsa.RSAPrivateKey) else _C.TransformEcdsaSha256
        )
        self.ttl_s = ttl_s

    @classmethod
    def from_signer(cls, signer: Signer, *, ttl_s: int = DEFAULT_TTL_S) -> WssSigner:
        """The same key pair as the document signer's."""
        return cls(signer.key_pem(), signer.cert_pem, ttl_s=ttl_s)

    def sign(self, envelope: etree._Element, *, now: datetime | None = None) -> etree._Element:
        """Add Timestamp, token and signature over Body + Timestamp to the envelope's
        wsse:Security header (made, mustUnderstand, when there is none)."""
        env_ns = etree.QName(envelope).namespace
        if env_ns not in _ENVELOPES:
            raise ValueError(f"not a SOAP envelope: {envelope.tag}")
        header = envelope.find(ns.q(env_ns, "Header"))
        if header is None:
            header = etree.Element(ns.q(env_ns, "Header"))
            envelope.insert(0, header)
        body = envelope.find(ns.q(env_ns, "Body"))
        if body is None:
            raise ValueError("the envelope has no Body")
        security = header.find(_SECURITY)
        if security is None:
            security = etree.SubElement(header, _SECURITY, nsmap={"wsse": ns.WSSE, "wsu": ns.WSU})
            security.set(ns.q(env_ns, "mustUnderstand"), "1" if env_ns == ns.SOAP11 else "true")
        created = now or datetime.now(UTC)
        timestamp = etree.SubElement(security, _TIMESTAMP, nsmap={"wsu": ns.WSU})
        timestamp.set(_WSU_ID, f"TS-{uuid.uuid4()}")
        etree.SubElement(timestamp, ns.q(ns.WSU, "Created")).text = _wsu_time(created)
        etree.SubElement(timestamp, ns.q(ns.WSU, "Expires")).text = _wsu_time(
            created + timedelta(seconds=self.ttl_s)
        )
        token = etree.SubElement(
            security, _TOKEN, {"ValueType": X509_TOKEN, "EncodingType": BASE64}, nsmap={"wsu": ns.WSU}
        )
        token_id = f"X509-{uuid.uuid4()}"
        token.set(_WSU_ID, token_id)
        token.text = self._token
        body_id = body.get(_WSU_ID)
        if not body_id:
            body_id = f"Body-{uuid.uuid4()}"
            body.set(_WSU_ID, body_id)
        signature = xmlsec.template.create(envelope, _C.TransformExclC14N, self._method, ns="ds")
        security.append(signature)
        ctx = xmlsec.SignatureContext()
        ctx.key = self._key
        for target, target_id in ((body, body_id), (timestamp, timestamp.get(_WSU_ID))):
            ref = xmlsec.template.add_reference(signature, _C.TransformSha256, uri=f"#{target_id}")
            xmlsec.template.add_transform(ref, _C.TransformExclC14N)
            ctx.register_id(target, "Id", ns.WSU)
        key_info = xmlsec.template.ensure_key_info(signature)
        ctx.sign(signature)
        reference = etree.SubElement(etree.SubElement(key_info, ns.q(ns.WSSE, "SecurityTokenReference")),
                                     ns.q(ns.WSSE, "Reference"))  # fmt: skip
        reference.set("URI", f"#{token_id}")
        reference.set("ValueType", X509_TOKEN)
        return envelope

    # zeep's wsse plugin interface: `apply` on what is sent; `verify` is set by the user.
    def apply(
        self, envelope: etree._Element, headers: dict[str, Any]
    ) -> tuple[etree._Element, dict[str, Any]]:
        self.sign(envelope)
        return envelope, headers

    def verify(self, envelope: etree._Element) -> None:
        """zeep calls this on every response; checking answers is `ResponseVerifier`'s job."""


# -- verifying -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verified:
    created: float
    expires: float
    signature_value: str


class PartnerKey:
    """A partner's certificate, as DER (to compare tokens with) and as an xmlsec key."""

    def __init__(self, cert_pem: bytes):
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            self.key = xmlsec.Key.from_memory(cert_pem, _C.KeyDataFormatCertPem, None)
        except (xmlsec.Error, ValueError) as exc:
            raise ConfigError(f"the partner certificate cannot be read: {exc}") from None
        self.der = cert.public_bytes(serialization.Encoding.DER)


class WssVerifier:
    """Checks message signatures against partners' certificates (keys cached per PEM)."""

    def __init__(self, *, max_skew_s: int = 300, max_age_s: int = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.time):  # fmt: skip
        self.max_skew_s = max_skew_s
        self.max_age_s = max_age_s
        self.clock = clock
        self._keys: dict[bytes, PartnerKey] = {}
        self._lock = threading.Lock()

    def key_for(self, cert_pem: bytes) -> PartnerKey:
        key = self._keys.get(cert_pem)
        if key is None:
            key = PartnerKey(cert_pem)
            with self._lock:
                self._keys[cert_pem] = key
        return key

    def verify(self, envelope: etree._Element, cert_pem: bytes) -> Verified:
        """The signature in `envelope` (the parsed tree) verified against `cert_pem`;
        MessageSignatureError otherwise."""
        env_ns = etree.QName(envelope).namespace
        header = envelope.find(ns.q(env_ns or "", "Header"))
        body = envelope.find(ns.q(env_ns or "", "Body"))
        if body is None:
            raise MessageSignatureError("the envelope has no Body")
        security = security_header(header)
        signature = None if security is None else security.find(_SIGNATURE)
        if security is None or signature is None:
            raise MessageSignatureError("no WS-Security signature in the header", missing=True)
        timestamp = security.find(_TIMESTAMP)
        if timestamp is None:
            raise MessageSignatureError("no wsu:Timestamp in the WS-Security header")
        signed = self._references(envelope, signature, {"Body": body, "Timestamp": timestamp})
        if body not in signed or timestamp not in signed:
            raise MessageSignatureError("the signature does not cover both the Body and the Timestamp")
        key = self.key_for(cert_pem)
        self._check_tokens(security, key)
        created, expires = self._check_time(timestamp)
        ctx = xmlsec.SignatureContext()
        ctx.key = key.key
        for element in signed:
            ctx.register_id(element, "Id", ns.WSU)
        try:
            ctx.verify(signature)
        except xmlsec.Error:
            raise MessageSignatureError(
                "the signature does not verify with the partner's certificate"
            ) from None
        value = "".join((signature.findtext("ds:SignatureValue", namespaces=_DS) or "").split())
        return Verified(created, expires, value)

    @staticmethod
    def _references(
        envelope: etree._Element, signature: etree._Element, allowed: dict[str, etree._Element]
    ) -> list[etree._Element]:
        """The elements the signature references, each the Body or the Timestamp we read,
        by a wsu:Id no other element in the envelope carries."""
        info = signature.find("ds:SignedInfo", namespaces=_DS)
        if info is None:
            raise MessageSignatureError("the signature has no SignedInfo")
        c14n = info.find("ds:CanonicalizationMethod", namespaces=_DS)
        if c14n is None or c14n.get("Algorithm") != EXC_C14N:
            raise MessageSignatureError("SignedInfo must use exclusive canonicalisation")
        method = info.find("ds:SignatureMethod", namespaces=_DS)
        if method is None or method.get("Algorithm") not in SIGNATURE_METHODS:
            algorithm = "none" if method is None else str(method.get("Algorithm"))[:100]
            raise MessageSignatureError(f"signature algorithm {algorithm} is not accepted (RSA/ECDSA SHA-2)")
        refs = info.findall("ds:Reference", namespaces=_DS)
        if not refs or len(refs) > MAX_REFERENCES:
            raise MessageSignatureError(f"the signature must have 1 to {MAX_REFERENCES} references")
        by_id = {el.get(_WSU_ID): el for el in allowed.values() if el.get(_WSU_ID)}
        signed: list[etree._Element] = []
        for ref in refs:
            uri = ref.get("URI") or ""
            target = by_id.get(uri[1:]) if uri.startswith("#") else None
            if target is None:
                raise MessageSignatureError(f"reference {uri[:100]!r} is not to the Body or the Timestamp")
            for transform in ref.iterfind("ds:Transforms/ds:Transform", namespaces=_DS):
                if transform.get("Algorithm") not in TRANSFORMS:
                    raise MessageSignatureError(
                        "references may only use the exclusive c14n (and enveloped-signature) transforms"
                    )
            digest = ref.find("ds:DigestMethod", namespaces=_DS)
            if digest is None or digest.get("Algorithm") not in DIGEST_METHODS:
                raise MessageSignatureError("reference digests must be SHA-2")
            same = envelope.xpath(
                "count(//@*[local-name()='Id' or local-name()='id' or local-name()='ID'][. = $v])", v=uri[1:]
            )
            if same != 1:
                raise MessageSignatureError(f"id {uri[1:100]!r} is not unique in the envelope")
            if target in signed:
                raise MessageSignatureError("the signature references one element twice")
            signed.append(target)
        return signed

    @staticmethod
    def _check_tokens(security: etree._Element, key: PartnerKey) -> None:
        """Every X.509 token or certificate the message brings must be the partner's."""
        carried = [t.text or "" for t in security.iterchildren(_TOKEN)]
        carried += [
            c.text or ""
            for c in security.iterfind(f"{{{ns.DS}}}Signature/ds:KeyInfo//ds:X509Certificate", namespaces=_DS)
        ]
        for text in carried:
            try:
                der = base64.b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError):
                raise MessageSignatureError("a BinarySecurityToken is not base64") from None
            if der != key.der:
                raise MessageSignatureError("the message's X.509 token is not the partner's certificate")

    def _check_time(self, timestamp: etree._Element) -> tuple[float, float]:
        created = _parse_time(timestamp.findtext(ns.q(ns.WSU, "Created")), "Created")
        expires = _parse_time(timestamp.findtext(ns.q(ns.WSU, "Expires")), "Expires")
        now = self.clock()
        if created > now + self.max_skew_s:
            raise MessageSignatureError("the Timestamp is created in the future (clock skew)")
        if expires < created:
            raise MessageSignatureError("the Timestamp expires before it is created")
        if expires + self.max_skew_s < now:
            raise MessageSignatureError("the message has expired (Timestamp Expires)", expired=True)
        if now - created > self.max_age_s + self.max_skew_s:
            raise MessageSignatureError("the message is too old (Timestamp Created)", expired=True)
        return created, expires
