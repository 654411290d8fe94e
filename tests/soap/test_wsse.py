"""WS-Security UsernameToken checks, with a pinned clock: digest, freshness, replay,
plain-text passwords over TLS against a scrypt hash."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from exchange.soap import SoapStore
from exchange.soap.credentials import PartnerCredential, hash_password
from exchange.soap.faults import FaultCode, SoapFault
from exchange.soap.wsse import Authenticator

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SECRET = b"nz-shared-secret-0123456789"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def auth(tmp_path: Path, password_hash: str) -> Iterator[Authenticator]:
    store = SoapStore(f"sqlite:///{tmp_path / 'audit.db'}")
    creds = {
        "nz": PartnerCredential("nz", "nz", secret=SECRET),
        "eu-mra": PartnerCredential("eu", "eu-mra", password_hash=password_hash),
    }
    yield Authenticator(creds, store, max_skew_s=300, clock=NOW.timestamp)
    store.close()


def header(
    username: str = "nz",
    *,
    secret: bytes = SECRET,
    nonce: bytes | None = b"0123456789abcdef",
    created: datetime | None = NOW,
    text: str | None = None,
) -> etree._Element:
    h = etree.Element("Header")
    token = etree.SubElement(etree.SubElement(h, f"{{{WSSE}}}Security"), f"{{{WSSE}}}UsernameToken")
    etree.SubElement(token, f"{{{WSSE}}}Username").text = username
    created_text = None if created is None else created.strftime("%Y-%m-%dT%H:%M:%SZ")
    password = etree.SubElement(token, f"{{{WSSE}}}Password")
    if text is not None:
        password.text = text
        password.set("Type", f"{PROFILE}#PasswordText")
    else:
        digest = hashlib.sha1((nonce or b"") + (created_text or "").encode() + secret).digest()
        password.text = base64.b64encode(digest).decode()
        password.set("Type", f"{PROFILE}#PasswordDigest")
    if nonce is not None:
        etree.SubElement(token, f"{{{WSSE}}}Nonce").text = base64.b64encode(nonce).decode()
    if created_text is not None:
        etree.SubElement(token, f"{{{WSU}}}Created").text = created_text
    return h


def refused(auth: Authenticator, h: etree._Element | None, *, tls: bool = False) -> str:
    with pytest.raises(SoapFault) as caught:
        auth.authenticate(h, tls=tls)
    assert caught.value.code is FaultCode.NOT_AUTHENTICATED
    assert caught.value.message == "authentication failed"
    return str(caught.value.details["reason"])


def test_a_good_digest_names_the_partner(auth: Authenticator) -> None:
    assert auth.authenticate(header(), tls=False).partner == "nz"


def test_a_wrong_secret(auth: Authenticator) -> None:
    assert refused(auth, header(secret=b"guess-guess-guess-guess")) == "wrong password digest"


def test_the_same_nonce_twice_is_a_replay(auth: Authenticator) -> None:
    auth.authenticate(header(), tls=False)
    assert refused(auth, header()) == "nonce replayed"
    assert auth.authenticate(header(nonce=b"another-nonce-16"), tls=False).partner == "nz"


@pytest.mark.parametrize("skew", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_created_far_from_our_clock(auth: Authenticator, skew: timedelta) -> None:
    assert "outside the accepted window" in refused(auth, header(created=NOW + skew))


def test_created_within_the_window_is_fine(auth: Authenticator) -> None:
    assert auth.authenticate(header(created=NOW - timedelta(minutes=4)), tls=False).partner == "nz"


@pytest.mark.parametrize(
    ("h", "reason"),
    [
        (None, "no WS-Security UsernameToken in the header"),
        (etree.Element("Header"), "no WS-Security UsernameToken in the header"),
        (header(nonce=None), "PasswordDigest needs Nonce and Created"),
        (header(created=None), "PasswordDigest needs Nonce and Created"),
        (header(nonce=b"short"), "the Nonce must be 8 to 64 bytes"),
        (header("mallory"), "unknown username"),
        (header("eu-mra"), "PasswordDigest is not configured for this partner"),
    ],
)
def test_incomplete_or_unknown_tokens(auth: Authenticator, h: etree._Element | None, reason: str) -> None:
    assert refused(auth, h) == reason


def test_plain_text_only_over_tls_against_the_hash(auth: Authenticator) -> None:
    assert refused(auth, header("eu-mra", nonce=None, created=None, text=PASSWORD)) == (
        "PasswordText is accepted over TLS only"
    )
    assert (
        auth.authenticate(header("eu-mra", nonce=None, created=None, text=PASSWORD), tls=True).partner == "eu"
    )
    # Remembered (as an HMAC) after a success: the same password again is cheap and still checked.
    assert (
        auth.authenticate(header("eu-mra", nonce=None, created=None, text=PASSWORD), tls=True).partner == "eu"
    )
    wrong = header("eu-mra", nonce=None, created=None, text="wrong horse battery staple")
    assert refused(auth, wrong, tls=True) == "wrong password"


def test_plain_text_for_a_digest_partner_is_refused(auth: Authenticator) -> None:
    assert "not configured" in refused(auth, header(text=SECRET.decode()), tls=True)
