"""Who is calling: WS-Security UsernameToken (OASIS WSS 1.1, UsernameToken Profile 1.1).

PasswordDigest = Base64(SHA-1(nonce + created + secret)) over any transport, nonce and
Created required: Created within `max_skew_s` of our clock, each nonce accepted once
(remembered in the shared database for the window, so a replay to another worker fails
too). PasswordText only over TLS, checked against a scrypt hash; a successful check is
remembered in memory for a few minutes as an HMAC, so scrypt is not paid per request.
Every failure says the same thing to the caller; the audit gets the reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from exchange.service.store import SoapStore
from exchange.soap import ns
from exchange.soap.credentials import PartnerCredential, check_password
from exchange.soap.faults import FaultCode, SoapFault

_FAILED = "authentication failed"
_TEXT_CACHE_S = 300


@dataclass(frozen=True, slots=True)
class UsernameToken:
    username: str
    password: str
    password_type: str
    nonce: bytes | None
    created: str | None


def _refuse(reason: str, username: str | None = None) -> SoapFault:
    return SoapFault(
        FaultCode.NOT_AUTHENTICATED,
        _FAILED,
        details={"reason": reason, **({"username": username[:100]} if username else {})},
    )


def read_token(header: etree._Element | None) -> UsernameToken:
    security = None if header is None else header.find(ns.q(ns.WSSE, "Security"))
    token = None if security is None else security.find(ns.q(ns.WSSE, "UsernameToken"))
    if token is None:
        raise _refuse("no WS-Security UsernameToken in the header")
    username = (token.findtext(ns.q(ns.WSSE, "Username")) or "").strip()
    password_el = token.find(ns.q(ns.WSSE, "Password"))
    if not username or password_el is None:
        raise _refuse("the UsernameToken has no Username or Password", username)
    nonce_text = token.findtext(ns.q(ns.WSSE, "Nonce"))
    nonce = None
    if nonce_text is not None:
        try:
            nonce = base64.b64decode(nonce_text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise _refuse("the Nonce is not base64", username) from None
    return UsernameToken(
        username=username,
        password=(password_el.text or "").strip(),
        password_type=password_el.get("Type", ns.PASSWORD_TEXT),
        nonce=nonce,
        created=token.findtext(ns.q(ns.WSU, "Created")),
    )


class Authenticator:
    def __init__(
        self,
        credentials: Mapping[str, PartnerCredential],
        store: SoapStore,
        *,
        max_skew_s: int = 300,
        clock: Callable[[], float] = time.time,
    ):
        self.credentials = dict(credentials)
        self.store = store
        self.max_skew_s = max_skew_s
        self.clock = clock
        self._text_key = secrets.token_bytes(32)
        self._text_ok: dict[str, tuple[bytes, float]] = {}
        self._text_lock = threading.Lock()

    def authenticate(self, header: etree._Element | None, *, tls: bool) -> PartnerCredential:
        """The caller's credential, or a NOT_AUTHENTICATED fault."""
        token = read_token(header)
        cred = self.credentials.get(token.username)
        if cred is None:
            raise _refuse("unknown username", token.username)
        if token.password_type == ns.PASSWORD_DIGEST:
            self._check_digest(token, cred)
        elif token.password_type == ns.PASSWORD_TEXT:
            self._check_text(token, cred, tls=tls)
        else:
            raise _refuse(f"unsupported password type {token.password_type[:100]!r}", token.username)
        if token.nonce is not None:
            self._check_fresh(token)
        return cred

    def _check_digest(self, token: UsernameToken, cred: PartnerCredential) -> None:
        if cred.secret is None:
            raise _refuse("PasswordDigest is not configured for this partner", token.username)
        if token.nonce is None or token.created is None:
            raise _refuse("PasswordDigest needs Nonce and Created", token.username)
        expected = base64.b64encode(
            hashlib.sha1(token.nonce + token.created.encode("utf-8") + cred.secret).digest()
        ).decode("ascii")
        if not hmac.compare_digest(expected, token.password):
            raise _refuse("wrong password digest", token.username)

    def _check_text(self, token: UsernameToken, cred: PartnerCredential, *, tls: bool) -> None:
        if not tls:
            raise _refuse("PasswordText is accepted over TLS only", token.username)
        if cred.password_hash is None:
            raise _refuse("PasswordText is not configured for this partner", token.username)
        mac = hmac.new(self._text_key, token.password.encode("utf-8"), hashlib.sha256).digest()
        now = self.clock()
        with self._text_lock:
            known = self._text_ok.get(cred.username)
        if known is not None and known[1] > now and hmac.compare_digest(known[0], mac):
            return
        if not check_password(token.password, cred.password_hash):
            raise _refuse("wrong password", token.username)
        with self._text_lock:
            self._text_ok[cred.username] = (mac, now + _TEXT_CACHE_S)

    def _check_fresh(self, token: UsernameToken) -> None:
        """Created close to now and the nonce never seen: a captured request cannot be replayed."""
        if token.created is None or token.nonce is None:
            raise _refuse("a Nonce needs a Created time", token.username)
        if not 8 <= len(token.nonce) <= 64:
            raise _refuse("the Nonce must be 8 to 64 bytes", token.username)
        try:
            created = datetime.fromisoformat(token.created.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _refuse("Created is not an ISO 8601 time", token.username) from None
        if created.tzinfo is None:
            raise _refuse("Created has no time zone", token.username)
        now = self.clock()
        if abs(now - created.timestamp()) > self.max_skew_s:
            raise _refuse("Created is outside the accepted window (stale or clock skew)", token.username)
        nonce = base64.b64encode(token.nonce).decode("ascii")
        if not self.store.remember_nonce(token.username, nonce, int(now), self.max_skew_s):
            raise _refuse("nonce replayed", token.username)
