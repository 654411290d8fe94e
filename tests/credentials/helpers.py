"""Shared by the credential tests: keys, an issuer on a temporary database, issued shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exchange.credentials import bitstring
from exchange.credentials.did import Issuer
from exchange.credentials.keys import CredentialKey, generate_credential_key

ISSUER = Issuer("did:web:localhost%3A8080", "http://localhost:8080")


def issued_shape(document: dict[str, Any], index: int = 7) -> dict[str, Any]:
    """A mapped credential with what the issuing step adds (status entries; PT's issue
    time), for tests of the schemas alone."""
    out = dict(document)
    out.setdefault("validFrom", "2026-01-01T00:00:00Z")
    out["credentialStatus"] = bitstring.entries(ISSUER.status_list_url, 1, index)
    return out


def make_key(tmp: Path) -> CredentialKey:
    return CredentialKey.from_file(generate_credential_key(tmp))
