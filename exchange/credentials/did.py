"""Who issues: a did:web identifier, the public base URL its documents live under, and
the DID document that publishes the credential key.

EXCHANGE_PUBLIC_URL is where `exchange run` is reachable from outside (one notion for
the whole service: exchange/contexts.py public_url, default https://cnca.gov.cn);
EXCHANGE_ISSUER_DID the issuer (default: the did:web of that URL's host, port and path,
e.g. did:web:cnca.gov.cn or did:web:localhost%3A8080). did:web resolves to
https://<host>/.well-known/did.json (or <host>/<path>/did.json for a DID with a path).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from exchange.contexts import public_url
from exchange.credentials.keys import CredentialKey
from exchange.errors import ConfigError

ENV_ISSUER_DID = "EXCHANGE_ISSUER_DID"
ENV_PUBLIC_URL = "EXCHANGE_PUBLIC_URL"
DID_CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://www.w3.org/ns/security/jwk/v1"]
"""DID core and the JsonWebKey verification method type (W3C security vocabulary)."""
_DID_WEB = re.compile(r"^did:web:([A-Za-z0-9.\-]+(?:%3[Aa][0-9]{1,5})?)((?::[A-Za-z0-9._\-~%]+)*)$")
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Issuer:
    did: str
    public_url: str
    """No trailing slash."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Issuer:
        env = dict(os.environ) if env is None else env
        public = public_url(env)
        did = env.get(ENV_ISSUER_DID) or did_web_for(public)
        did_web_host(did)  # refused here, not at the first credential
        return cls(did, public)

    def kid(self, key: CredentialKey) -> str:
        return f"{self.did}#{key.key_id}"

    def status_list_url(self, purpose: str, number: int) -> str:
        return f"{self.public_url}/status/{purpose}/{number}"


def did_web_for(url: str) -> str:
    """did:web of a URL's host (and port, %3A-encoded) and path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    did = "did:web:" + host + (f"%3A{parts.port}" if parts.port else "")
    for segment in [s for s in parts.path.split("/") if s]:
        did += ":" + quote(segment, safe="")
    return did


def did_web_host(did: str) -> tuple[str, list[str]]:
    """(host[:port], path segments) of a did:web; ConfigError for anything else."""
    m = _DID_WEB.match(did)
    if m is None:
        raise ConfigError(f"{did!r} is not a did:web identifier (did:web:<host>[%3A<port>][:<path>...])")
    host = unquote(m.group(1))
    path = [unquote(s) for s in m.group(2).split(":") if s]
    return host, path


def did_document_url(did: str, *, insecure_loopback: bool = True) -> str:
    """Where a did:web's document is: https, or http for a loopback host (development)."""
    host, path = did_web_host(did)
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    scheme = "http" if insecure_loopback and name in LOOPBACK else "https"
    tail = "/".join(path) + "/did.json" if path else ".well-known/did.json"
    return f"{scheme}://{host}/{tail}"


def did_document(issuer: Issuer, key: CredentialKey) -> dict[str, Any]:
    """The issuer's DID document: one JsonWebKey verification method, for assertions."""
    kid = issuer.kid(key)
    return {
        "@context": DID_CONTEXTS,
        "id": issuer.did,
        "verificationMethod": [
            {"id": kid, "type": "JsonWebKey", "controller": issuer.did, "publicKeyJwk": key.public_jwk()}
        ],
        "assertionMethod": [kid],
        "authentication": [kid],
    }
