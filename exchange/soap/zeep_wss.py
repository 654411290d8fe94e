"""WS-Security as zeep implements it (zeep.wsse.signature, python-xmlsec underneath), for
the simulated partners: they check our message signatures and sign their answers with an
implementation that is not ours (exchange/soap/wss_signature.py), as a real partner would.

zeep's verify checks the signature value and each reference; what it leaves to its caller
is checked here: that the Body and the Timestamp are both signed, and the Timestamp has
not expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import xmlsec
import zeep.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from zeep.wsse import signature as zsig
from zeep.wsse import utils as zutils

from exchange.soap import ns

_C = xmlsec.constants
_WSU_ID = ns.q(ns.WSU, "Id")
_DS = {"ds": ns.DS}


def signed(header: etree._Element | None) -> bool:
    """True when a wsse:Security header holds a ds:Signature."""
    if header is None:
        return False
    return header.find(f"{ns.q(ns.WSSE, 'Security')}/{ns.q(ns.DS, 'Signature')}") is not None


def verify(envelope: etree._Element, cert_pem: bytes) -> str | None:
    """None when zeep verifies the signature and it covers Body and Timestamp; else why not."""
    z: Any = zsig  # untyped library
    try:
        z.MemorySignature(None, cert_pem).verify(envelope)
    except zeep.exceptions.SignatureVerificationFailed:
        return "the signature does not verify"
    except (AttributeError, IndexError, TypeError, xmlsec.Error):  # zeep on a malformed header
        return "no readable WS-Security signature"
    env_ns = etree.QName(envelope).namespace or ""
    body = envelope.find(ns.q(env_ns, "Body"))
    stamp = envelope.find(f"{ns.q(env_ns, 'Header')}/{ns.q(ns.WSSE, 'Security')}/{ns.q(ns.WSU, 'Timestamp')}")
    uris = {r.get("URI") for r in envelope.iterfind(".//ds:SignedInfo/ds:Reference", namespaces=_DS)}
    if body is None or stamp is None or {f"#{body.get(_WSU_ID)}", f"#{stamp.get(_WSU_ID)}"} - uris:
        return "the signature does not cover both the Body and the Timestamp"
    expires = stamp.findtext(ns.q(ns.WSU, "Expires")) or ""
    try:
        if datetime.fromisoformat(expires.replace("Z", "+00:00")) < datetime.now(UTC):
            return "the message has expired"
    except ValueError:
        return "the Timestamp has no readable Expires"
    return None


class ZeepSigner:
    """zeep's BinarySignature from key material in memory, with a fresh Timestamp per message."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, *, ttl_s: int = 300):
        key = serialization.load_pem_private_key(key_pem, password=None)
        method = _C.TransformRsaSha256 if isinstance(key, rsa.RSAPrivateKey) else _C.TransformEcdsaSha256
        z: Any = zsig  # untyped library
        self._signature: Any = object.__new__(z.BinarySignature)
        z.MemorySignature.__init__(self._signature, key_pem, cert_pem, None, method, _C.TransformSha256)
        self.ttl_s = ttl_s

    def sign(self, envelope: etree._Element) -> None:
        u: Any = zutils  # untyped library
        now = datetime.now(UTC)
        u.get_security_header(envelope).append(
            u.WSU.Timestamp(
                u.WSU.Created(u.get_timestamp(now, True)),
                u.WSU.Expires(u.get_timestamp(now + timedelta(seconds=self.ttl_s), True)),
            )
        )
        self._signature.apply(envelope, {})


class ZeepPartnerSecurity:
    """A partner's zeep `wsse`: UsernameToken (PasswordDigest) and zeep's BinarySignature on
    what it sends; our answers verified by zeep against `our_cert_pem`."""

    def __init__(self, username: str, secret: str, key_pem: bytes, cert_pem: bytes, our_cert_pem: bytes):
        from zeep.wsse import username as zuser

        u: Any = zuser  # untyped library
        self._token: Any = u.UsernameToken(username, secret, use_digest=True)
        self._signer = ZeepSigner(key_pem, cert_pem)
        z: Any = zsig  # untyped library
        self._verifier: Any = z.MemorySignature(None, our_cert_pem)

    def apply(self, envelope: etree._Element, headers: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        envelope, headers = self._token.apply(envelope, headers)
        self._signer.sign(envelope)
        return envelope, headers

    def verify(self, envelope: etree._Element) -> None:
        self._verifier.verify(envelope)
