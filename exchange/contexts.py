"""The JSON-LD contexts we publish: which files, at which path `exchange run` serves them,
and the URL credentials name them by.

Every `*.jsonld` file shipped under `schemas/<partner>/` is a context of ours (for
instance `schemas/bri/mra-dcc-ext-1.0.jsonld`, the terms UNTP lacks). It is served at
`/contexts/<file name>` and named `<public URL>/contexts/<file name>`, the public URL
being `EXCHANGE_PUBLIC_URL` (where partners reach this service) or, unset, the
placeholder base that matches the placeholder issuer `did:web:cnca.gov.cn`.
"""

from __future__ import annotations

import os
from functools import cache
from urllib.parse import urlsplit

from exchange.errors import ConfigError
from exchange.resources import schema_path

ROUTE = "/contexts/"
DEFAULT_PUBLIC_URL = "https://cnca.gov.cn"
MEDIA_TYPE = "application/ld+json"


def public_url() -> str:
    """The service's public base URL (no trailing slash), checked: https or http, a host,
    no query or fragment, because it becomes part of every credential."""
    raw = os.environ.get("EXCHANGE_PUBLIC_URL", "").strip() or DEFAULT_PUBLIC_URL
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"EXCHANGE_PUBLIC_URL {raw!r} is not an http(s) base URL without query or fragment")
    if any(c.isspace() for c in raw):
        raise ConfigError(f"EXCHANGE_PUBLIC_URL {raw!r} contains whitespace")
    return raw.rstrip("/")


def context_url(file_name: str, base: str | None = None) -> str:
    """The URL a credential names our context `file_name` by."""
    return f"{(base or public_url())}{ROUTE}{file_name}"


@cache
def served_contexts() -> dict[str, bytes]:
    """Path on the HTTP front -> the context file's bytes, for every context we ship."""
    out: dict[str, bytes] = {}
    for path in sorted(schema_path().glob("*/*.jsonld")):
        route = ROUTE + path.name
        if route in out:
            raise ConfigError(f"two contexts are named {path.name}: file names must be unique")
        out[route] = path.read_bytes()
    return out
