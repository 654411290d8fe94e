"""A partner's WS-Security as zeep does it (zeep.wsse: UsernameToken, BinarySignature over
python-xmlsec): an implementation we did not write, signing what the partner sends and
checking our signed answers with zeep's own `verify_envelope`."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import xmlsec
from lxml import etree
from zeep.wsse.compose import Compose
from zeep.wsse.signature import BinarySignature, verify_envelope
from zeep.wsse.username import UsernameToken
from zeep.wsse.utils import WSU, get_security_header

from exchange.signing import KeyPairFiles
from tests.soap.support import SECRETS, USERNAMES

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
SHA256 = {
    "signature_method": xmlsec.constants.TransformRsaSha256,
    "digest_method": xmlsec.constants.TransformSha256,
}


class FreshTimestamp:
    """A wsu:Timestamp per message (zeep's UsernameToken only appends a fixed one)."""

    def __init__(self, *, age_s: float = 0, ttl_s: float = 300):
        self.age_s, self.ttl_s = age_s, ttl_s

    def apply(
        self, envelope: etree._Element, headers: dict[str, Any]
    ) -> tuple[etree._Element, dict[str, Any]]:
        created = datetime.now(UTC) - timedelta(seconds=self.age_s)
        expires = created + timedelta(seconds=self.ttl_s)
        get_security_header(envelope).append(
            WSU.Timestamp(WSU.Created(created.isoformat()), WSU.Expires(expires.isoformat()))
        )
        return envelope, headers

    def verify(self, envelope: etree._Element) -> None:
        pass


class ZeepPartner:
    """zeep's wsse for a partner: UsernameToken (PasswordDigest), a fresh Timestamp and
    BinarySignature with `keys`; answers verified with zeep against `our_cert`."""

    def __init__(
        self,
        keys: KeyPairFiles,
        our_cert: Path | None,
        *,
        partner: str = "nz",
        timestamp: FreshTimestamp | None = None,
        sign: bool = True,
        timestamp_after_signature: bool = False,
        **signature: Any,
    ):
        parts: list[Any] = [UsernameToken(USERNAMES[partner], SECRETS[partner], use_digest=True)]
        stamp = timestamp or FreshTimestamp()
        signer = BinarySignature(str(keys.key), str(keys.certificate), **(signature or SHA256))
        if sign:
            parts += [signer, stamp] if timestamp_after_signature else [stamp, signer]
        else:
            parts.append(stamp)
        self.compose = Compose(parts)
        self.our_cert = our_cert
        self.verified = 0

    def apply(
        self, envelope: etree._Element, headers: dict[str, Any]
    ) -> tuple[etree._Element, dict[str, Any]]:
        result: tuple[etree._Element, dict[str, Any]] = self.compose.apply(envelope, headers)
        return result

    def verify(self, envelope: etree._Element) -> None:
        if self.our_cert is not None:
            verify_envelope(envelope, str(self.our_cert))  # raises SignatureVerificationFailed
            self.verified += 1


def xmlsec1_verifies(data: bytes, cert: Path, folder: Path) -> bool:
    """xmlsec1 (the libxmlsec1 command line) on a signed SOAP 1.1 envelope exactly as given,
    ids by wsu:Id on the Body and the Timestamp. Skips without xmlsec1, but fails under CI."""
    if shutil.which("xmlsec1") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("xmlsec1 is not installed and CI=true (.ci/run installs it)")
        pytest.skip("xmlsec1 is not installed")
    path = folder / "signed-envelope.xml"
    path.write_bytes(data)
    result = subprocess.run(
        ["xmlsec1", "--verify", "--pubkey-cert-pem", str(cert),
         "--id-attr:Id", f"{SOAP11}:Body", "--id-attr:Id", f"{WSU_NS}:Timestamp", str(path)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return result.returncode == 0
