"""What a partner's verifier does with one of our credentials, written for our own checks
and for `exchange verify-credential`: the JWS against the issuer's DID document, the
payload against the credential schemas, and its status entries against the status lists
(each list itself a vc+jwt of the same issuer).

Nothing is fetched unless asked (`fetch`), and then only from loopback hosts and hosts
named in `allowed_hosts`; did:web on loopback is fetched over http (development), every
other host over https. Local copies (the DID document, a status folder) come first.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exchange.credentials import bitstring, jws
from exchange.credentials.did import LOOPBACK, did_document_url
from exchange.credentials.jws import CredentialInvalid
from exchange.errors import ConfigError, DocumentError, ExchangeError
from exchange.partner import PartnerFormat

MAX_FETCH_BYTES = 16 * 1024 * 1024
"""A credential (a PT round's can reach 8 MB, base64 adds a third) or a list, at most."""
FETCH_TIMEOUT_S = 10.0


@dataclass
class Verdict:
    source: str
    valid: bool
    reason: str = ""
    issuer: str = ""
    subject: str = ""
    credential_id: str = ""
    status: str = "unknown"
    """active / suspended / revoked; unknown when the credential could not be checked."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "valid": self.valid,
            "reason": self.reason or None,
            "issuer": self.issuer or None,
            "subject": self.subject or None,
            "id": self.credential_id or None,
            "status": self.status,
        }


@dataclass
class Verifier:
    formats: Mapping[str, PartnerFormat]
    """The credential formats whose schemas a payload must pass (routed by its profile)."""
    did_document: dict[str, Any] | None = None
    status_dir: Path | None = None
    fetch: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    _cache: dict[str, Any] = field(default_factory=dict)

    # -- sources ----------------------------------------------------------------------

    def _allowed(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return self.fetch and (host in LOOPBACK or host in self.allowed_hosts)

    def get(self, url: str) -> bytes:
        if not self._allowed(url):
            raise CredentialInvalid(f"not fetching {url}: host not allowed (--fetch, --allow-host)")
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise CredentialInvalid(f"not fetching {url}: https only (http on loopback)")
        try:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as resp:
                data: bytes = resp.read(MAX_FETCH_BYTES + 1)
        except OSError as exc:
            raise CredentialInvalid(f"cannot fetch {url}: {exc}") from None
        if len(data) > MAX_FETCH_BYTES:
            raise CredentialInvalid(f"{url} is larger than {MAX_FETCH_BYTES} bytes")
        return data

    def _did_document(self, did: str, near: Path | None) -> dict[str, Any]:
        if self.did_document is not None:
            return self.did_document
        key = f"did:{did}"
        if key not in self._cache:
            local = near / ".well-known" / "did.json" if near is not None else None
            if local is not None and local.is_file():
                data = local.read_bytes()
            else:
                try:
                    url = did_document_url(did)
                except ConfigError as exc:
                    raise CredentialInvalid(str(exc)) from None
                data = self.get(url)
            try:
                self._cache[key] = json.loads(data)
            except ValueError as exc:
                raise CredentialInvalid(f"the DID document of {did} is not JSON: {exc}") from None
        doc: dict[str, Any] = self._cache[key]
        return doc

    def _status_list(self, url: str, issuer: str, near: Path | None) -> dict[str, Any]:
        key = f"list:{url}"
        if key not in self._cache:
            data = self._local_list(url, near)
            if data is None:
                data = self.get(url)
            token = data.decode("ascii", "replace").strip()
            header, credential = jws.verify(token, self._did_document(issuer, near))
            if str(header.get("kid", "")).split("#", 1)[0] != issuer:
                raise CredentialInvalid(f"the status list {url} is not signed by {issuer}")
            self._cache[key] = credential
        listed: dict[str, Any] = self._cache[key]
        return listed

    def _local_list(self, url: str, near: Path | None) -> bytes | None:
        path = urlsplit(url).path
        if "/status/" not in path:
            return None
        relative = path.split("/status/", 1)[1]
        for folder in (self.status_dir, near / "status" if near is not None else None):
            if folder is None:
                continue
            candidate = folder / (relative + ".jwt")
            if candidate.is_file() and candidate.resolve().is_relative_to(folder.resolve()):
                return candidate.read_bytes()
        return None

    # -- checks -----------------------------------------------------------------------

    def verify(self, source: str, data: bytes, near: Path | None) -> Verdict:
        verdict = Verdict(source, False)
        token = data.decode("ascii", "replace").strip()
        if token.count(".") != 2 or token.startswith("{"):
            verdict.reason = "not a vc+jwt (compact JWS): the credential is not secured"
            return verdict
        try:
            header = jws.header_of(token)
            kid = str(header.get("kid", ""))
            did = kid.split("#", 1)[0]
            verdict.issuer = did
            _, credential = jws.verify(token, self._did_document(did, near))
            issuer = credential.get("issuer")
            issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
            verdict.issuer = str(issuer_id)
            subject = credential.get("credentialSubject")
            verdict.subject = str(subject.get("id", "")) if isinstance(subject, dict) else ""
            verdict.credential_id = str(credential.get("id", ""))
            if issuer_id != did:
                raise CredentialInvalid(f"issuer {issuer_id!r} is not the signer {did!r}")
            self._check_schema(credential)
            verdict.status = self._status(credential, did, near)
        except (CredentialInvalid, DocumentError) as exc:
            verdict.reason = str(exc)
            return verdict
        except ExchangeError as exc:
            verdict.reason = str(exc)
            return verdict
        verdict.valid = True
        return verdict

    def _check_schema(self, credential: dict[str, Any]) -> None:
        payload = json.dumps(credential, ensure_ascii=False).encode("utf-8")
        profile = (
            (credential.get("credentialSchema") or {}).get("id")
            if isinstance(credential.get("credentialSchema"), dict)
            else None
        )
        for fmt in self.formats.values():
            if profile in fmt.namespaces():
                try:
                    fmt.check_bytes(payload)
                except DocumentError as exc:
                    detail = "; ".join(exc.messages[:3])
                    raise CredentialInvalid(
                        f"schema: {exc.reason}" + (f" ({detail})" if detail else "")
                    ) from None
                return
        raise CredentialInvalid(f"no schema for profile {profile!r}")

    def _status(self, credential: dict[str, Any], issuer: str, near: Path | None) -> str:
        entries = credential.get("credentialStatus")
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            raise CredentialInvalid("no credentialStatus")
        flags: dict[str, bool] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
                raise CredentialInvalid("a credentialStatus entry is not a BitstringStatusListEntry")
            purpose, url = entry.get("statusPurpose"), entry.get("statusListCredential")
            try:
                index = int(str(entry.get("statusListIndex")))
            except ValueError:
                raise CredentialInvalid(f"statusListIndex {entry.get('statusListIndex')!r}") from None
            if not isinstance(url, str):
                raise CredentialInvalid("statusListCredential is not a URL")
            listed = self._status_list(url, issuer, near)
            subject = listed.get("credentialSubject") or {}
            if "BitstringStatusListCredential" not in (listed.get("type") or []):
                raise CredentialInvalid(f"{url} is not a BitstringStatusListCredential")
            if subject.get("statusPurpose") != purpose:
                raise CredentialInvalid(f"{url} is a {subject.get('statusPurpose')} list, not {purpose}")
            try:
                bits = bitstring.decode(str(subject.get("encodedList", "")))
            except (ValueError, OSError, EOFError) as exc:
                raise CredentialInvalid(f"{url}: encodedList cannot be decoded: {exc}") from None
            if len(bits) * 8 < bitstring.SIZE or index >= len(bits) * 8:
                raise CredentialInvalid(f"{url}: the list is shorter than 131,072 entries or index {index}")
            flags[str(purpose)] = bitstring.get_bit(bits, index)
        if flags.get("revocation"):
            return "revoked"
        if flags.get("suspension"):
            return "suspended"
        return "active"


def read_source(source: str, verifier: Verifier) -> tuple[bytes, Path | None]:
    """A credential's bytes and the folder local companions are looked for in."""
    if source.startswith(("http://", "https://")):
        return verifier.get(source), None
    path = Path(source)
    with path.open("rb") as fh:
        data = fh.read(MAX_FETCH_BYTES + 1)
    if len(data) > MAX_FETCH_BYTES:
        raise CredentialInvalid(f"larger than {MAX_FETCH_BYTES} bytes: not one of our credentials")
    return data, path.parent
