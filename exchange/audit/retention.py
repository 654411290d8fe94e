"""Retention: what a purge may remove, and the signed mark of where the kept chain starts.

A purge deletes the oldest entries; the store records the first kept entry's seq and the
hash it links to, and `verify` walks from there. That record alone could be rewritten by
whoever deletes more entries, so with the service's signing key configured
(EXCHANGE_SIGNING_KEY / _CERT, the key documents are signed with) the purge signs it
(`exchange-audit-start/1`) and stores the signature beside it; `audit verify` with the
certificate refuses a start whose signature is missing, does not verify, or names
another entry.

Policy per agreement: `options.audit_retention_days = N` in agreements.toml. Archived
documents of that partner older than N days go. The chain is one for every partner, so
its entries go only before the longest retention of all agreements, and not at all while
any agreement has none (kept for ever). `exchange audit purge` without `--before`
applies it; run it from cron (`exchange run` does not purge on its own).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from exchange.audit.chain import canonical_json
from exchange.audit.entry import format_time
from exchange.audit.errors import AuditConfigError, CheckpointError
from exchange.config import ExchangeConfig
from exchange.signing import SignatureInvalid, Signer, verify_bytes

FORMAT = "exchange-audit-start/1"
OPTION = "audit_retention_days"


@dataclass(frozen=True)
class Policy:
    chain_before: datetime | None
    """Entries stamped before this go; None: the chain is kept whole."""
    archive_before: dict[str, datetime]
    """Per partner: its archived documents stored before this go."""
    kept_for_ever: tuple[str, ...]
    """Agreements without a retention: the chain stays whole for them."""


def policy(config: ExchangeConfig, now: datetime) -> Policy:
    days: dict[str, int] = {}
    for partner, agreement in config.partners.items():
        value = agreement.options.get(OPTION)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AuditConfigError(
                f"agreement {partner}: options.{OPTION} must be a whole number of days >= 1, not {value!r}"
            )
        days[partner] = value
    kept = tuple(sorted(set(config.partners) - set(days)))
    chain = None if kept or not days else now - timedelta(days=max(days.values()))
    return Policy(chain, {p: now - timedelta(days=d) for p, d in days.items()}, kept)


def sign_start(signer: Signer, seq: int, prev_hash: str, before: str, store: str, now: datetime) -> str:
    payload = {
        "format": FORMAT,
        "seq": seq,
        "prev_hash": prev_hash,
        "purged_before": before,
        "store": store,
        "time": format_time(now),
    }
    signature = signer.sign_bytes(canonical_json(payload).encode())
    return json.dumps({"checkpoint": payload, "signature": base64.b64encode(signature).decode("ascii")})


def check_start(seal: str | None, start: tuple[int, str], cert_pem: bytes) -> None:
    """CheckpointError unless `seal` is a start the service signed for exactly `start`."""
    if not seal:
        raise CheckpointError(
            f"the kept chain starts at entry {start[0]} but that start is not signed"
            " (purged without the service's key, or its signature was removed)"
        )
    try:
        doc = json.loads(seal)
        payload = doc["checkpoint"]
        signature = base64.b64decode(doc["signature"], validate=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"not {FORMAT}")
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"the signed start of the kept chain cannot be read: {e}") from None
    try:
        verify_bytes(cert_pem, canonical_json(payload).encode(), signature)
    except SignatureInvalid as e:
        raise CheckpointError(f"the signed start of the kept chain: {e} (altered, or another key)") from None
    if (payload.get("seq"), payload.get("prev_hash")) != start:
        raise CheckpointError(
            f"the kept chain starts at entry {start[0]}, but the signed start says entry"
            f" {payload.get('seq')}: entries were removed after the purge, or the start was moved"
        )
