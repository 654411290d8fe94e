"""The JSON-LD contexts we publish: which files, at which path `exchange run` serves them,
and the URL credentials name them by.

Every `*.jsonld` file shipped under `schemas/<partner>/` is a context of ours (for
instance `schemas/bri/mra-dcc-ext-1.1.jsonld`, the terms UNTP lacks). Credentials name
it `<public URL>/contexts/<file name>`, the public URL being `EXCHANGE_PUBLIC_URL` (where
verifiers reach this service, e.g. `https://mra.example.gov.cn` or
`https://example.gov.cn/mra`) or, unset, `https://cnca.gov.cn`, a placeholder; the default
issuer `did:web:cnca.gov.cn` and the status list URLs derive from the same base
(exchange/credentials/did.py). `exchange run` serves it at that URL's
path (`/contexts/<file name>`, after the public URL's own path if it has one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from exchange.errors import ConfigError
from exchange.resources import schema_path

ROUTE = "/contexts/"
DEFAULT_PUBLIC_URL = "https://cnca.gov.cn"
MEDIA_TYPE = "application/ld+json"


def public_url(env: Mapping[str, str] | None = None) -> str:
    """The service's public base URL (no trailing slash), checked: https or http, a host,
    no query or fragment, because it becomes part of every credential: the context URL,
    the default did:web issuer and the status list URLs all derive from it."""
    raw = (os.environ if env is None else env).get("EXCHANGE_PUBLIC_URL", "").strip() or DEFAULT_PUBLIC_URL
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"EXCHANGE_PUBLIC_URL {raw!r} is not an http(s) base URL without query or fragment")
    if any(c.isspace() for c in raw):
        raise ConfigError(f"EXCHANGE_PUBLIC_URL {raw!r} contains whitespace")
    return raw.rstrip("/")


def context_url(file_name: str, base: str | None = None) -> str:
    """The URL a credential names our context `file_name` by."""
    return f"{(base or public_url()).rstrip('/')}{ROUTE}{file_name}"


def served_contexts(base: str | None = None) -> dict[str, bytes]:
    """Path on the HTTP front -> the context file's bytes, for every context we ship."""
    out: dict[str, bytes] = {}
    for path in shipped_contexts():
        route = urlsplit(context_url(path.name, base)).path
        if route in out:
            raise ConfigError(f"two contexts are named {path.name}: file names must be unique")
        out[route] = path.read_bytes()
    return out


@cache
def shipped_contexts() -> tuple[Path, ...]:
    """Our context files (schemas/*/*.jsonld)."""
    return tuple(sorted(schema_path().glob("*/*.jsonld")))
