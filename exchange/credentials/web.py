"""What verifiers fetch from `exchange run`: the issuer's DID document at
/.well-known/did.json and the status lists at /status/<purpose>/<n> (the signed vc+jwt;
the JSON credential at /status/<purpose>/<n>.json), read from the database on every
request so a flip published by any worker is served at once."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from exchange.credentials.bitstring import PURPOSES
from exchange.credentials.did import Issuer, did_document
from exchange.credentials.jws import MEDIA_TYPE
from exchange.credentials.keys import CredentialKey
from exchange.credentials.status_store import StatusStore

_LIST = re.compile(r"^/status/(?P<purpose>[a-z]+)/(?P<number>[1-9][0-9]{0,6})(?P<json>\.json)?$")
PREFIXES = ("/.well-known/did.json", "/status/")


class CredentialsApp:
    def __init__(self, issuer: Issuer, key: CredentialKey | None, store: StatusStore):
        self.store = store
        self._did = (
            json.dumps(did_document(issuer, key), indent=2).encode("utf-8") if key is not None else None
        )

    @staticmethod
    def handles(path: str) -> bool:
        return path == PREFIXES[0] or path.startswith(PREFIXES[1])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _send(start_response, "405 Method Not Allowed", b"", "text/plain")
        if path == "/.well-known/did.json":
            if self._did is None:
                return _send(
                    start_response, "404 Not Found", b'{"error": "no credential key"}', "application/json"
                )
            return _send(start_response, "200 OK", self._did, "application/did+json")
        m = _LIST.match(path)
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
