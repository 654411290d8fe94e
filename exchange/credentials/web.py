"""What verifiers fetch from `exchange run`: the issuer's DID document where its did:web
resolves (/.well-known/did.json, or <path>/did.json for a DID with a path) and the status
lists at <public URL path>/status/<purpose>/<n> (the signed vc+jwt; the JSON credential at
.../<n>.json), read from the database on every request so a flip published by any worker
is served at once."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from exchange.credentials.bitstring import PURPOSES
from exchange.credentials.did import Issuer, did_document, did_document_url
from exchange.credentials.jws import MEDIA_TYPE
from exchange.credentials.keys import CredentialKey
from exchange.credentials.status_store import StatusStore

_LIST = re.compile(r"^/status/(?P<purpose>[a-z]+)/(?P<number>[1-9][0-9]{0,6})(?P<json>\.json)?$")


class CredentialsApp:
    def __init__(self, issuer: Issuer, key: CredentialKey | None, store: StatusStore):
        self.store = store
        self.did_path = urlsplit(did_document_url(issuer.did)).path
        self.status_prefix = urlsplit(issuer.public_url).path.rstrip("/") + "/status/"
        self._did = (
            json.dumps(did_document(issuer, key), indent=2).encode("utf-8") if key is not None else None
        )

    def handles(self, path: str) -> bool:
        """The paths the issuer's URLs name (the public URL's own path included)."""
        return path == self.did_path or path.startswith(self.status_prefix)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _send(start_response, "405 Method Not Allowed", b"", "text/plain")
        if path == self.did_path:
            if self._did is None:
                return _send(
                    start_response, "404 Not Found", b'{"error": "no credential key"}', "application/json"
                )
            return _send(start_response, "200 OK", self._did, "application/did+json")
        listed = path.startswith(self.status_prefix)
        m = _LIST.match("/status/" + path.removeprefix(self.status_prefix)) if listed else None
        if m is None or m["purpose"] not in PURPOSES:
            return _send(
                start_response, "404 Not Found", b'{"error": "no such status list"}', "application/json"
            )
        published = self.store.published(m["purpose"], int(m["number"]))
        if published is None:
            return _send(
                start_response, "404 Not Found", b'{"error": "no such status list"}', "application/json"
            )
        credential, jwt = published
        if m["json"] or jwt is None:
            return _send(start_response, "200 OK", credential.encode("utf-8"), "application/vc+ld+json")
        return _send(start_response, "200 OK", jwt.encode("ascii"), MEDIA_TYPE)


def _send(start_response: Callable[..., Any], status: str, body: bytes, media: str) -> list[bytes]:
    start_response(
        status,
        [("Content-Type", media), ("Content-Length", str(len(body))), ("Cache-Control", "no-cache")],
    )
    return [body]
