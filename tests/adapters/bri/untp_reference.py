"""The official UNTP DCC 0.6.1 artefacts, read in place from `<repo>/../shared/reference/
untp-0.6.1/` (GPL-3.0: never copied into this repository), and a JSON-LD document loader
that serves the three contexts a bri credential names from local files.

Absent folder: the tests that need it skip with the reason, except under CI=true, where
they fail (CI has the folder, and must not pass by skipping).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from exchange.contexts import context_url, shipped_contexts

REPO = Path(__file__).resolve().parents[3]
REFERENCE = REPO.parent / "shared" / "reference" / "untp-0.6.1"
VC_CONTEXT_URL = "https://www.w3.org/ns/credentials/v2"
UNTP_CONTEXT_URL = "https://test.uncefact.org/vocabulary/untp/dcc/0.6.1/"


def require_reference() -> Path:
    """The reference folder, or skip (fail under CI=true) naming what is missing."""
    needed = ["untp-dcc-schema.json", "context.jsonld", "credentials-v2.jsonld"]
    missing = [n for n in needed if not (REFERENCE / n).is_file()]
    if missing:
        reason = f"UNTP 0.6.1 reference artefacts not found: {REFERENCE} lacks {', '.join(missing)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the conformance tests must run)")
        pytest.skip(reason)
    return REFERENCE


@cache
def official_schema() -> dict[str, Any]:
    return json.loads((require_reference() / "untp-dcc-schema.json").read_text(encoding="utf-8"))


def local_contexts(base: str | None = None) -> dict[str, Path]:
    """Context URL -> local file: the two official ones from the reference folder, ours
    from schemas/bri/ under the URL credentials name it by."""
    ref = require_reference()
    urls = {VC_CONTEXT_URL: ref / "credentials-v2.jsonld", UNTP_CONTEXT_URL: ref / "context.jsonld"}
    for path in shipped_contexts():
        urls[context_url(path.name, base)] = path
    return urls


def document_loader(urls: dict[str, Path]) -> Callable[..., dict[str, Any]]:
    """A pyld document loader that answers only from `urls`: nothing is fetched."""

    def load(url: str, options: Any = None) -> dict[str, Any]:
        if url not in urls:
            raise AssertionError(f"the credential names a context we do not serve locally: {url}")
        document = json.loads(urls[url].read_text(encoding="utf-8"))
        return {"contextUrl": None, "documentUrl": url, "document": document}

    return load
