"""Audit trail: an append-only, hash-chained record of every step of every message.

with open_store() as audit:          # EXCHANGE_AUDIT_URL, or ./exchange-audit.db
    audit.append(AuditEntry(AuditEvent.RECEIVED, message_id=mid, record_id=cert_no))
    ...
    audit.flush()                    # before acknowledging anything to anyone
"""

from exchange.audit.chain import GENESIS, canonical_json, sha256_hex
from exchange.audit.checkpoint import (
    Checkpoint,
    load_key,
    read_checkpoint,
    take_checkpoint,
    write_checkpoint,
)
from exchange.audit.entry import AuditEntry, StoredEntry
from exchange.audit.errors import AuditConfigError, AuditError, CheckpointError, StoreUnavailable
from exchange.audit.events import AuditEvent
from exchange.audit.open import open_store
from exchange.audit.store import AuditStore
from exchange.audit.url import DEFAULT_URL, ENV_URL, resolve_audit_url
from exchange.audit.verify import ChainProblem, ProblemKind, VerifyReport

__all__ = [
    "DEFAULT_URL",
    "ENV_URL",
    "GENESIS",
    "AuditConfigError",
    "AuditEntry",
    "AuditError",
    "AuditEvent",
    "AuditStore",
    "ChainProblem",
    "Checkpoint",
    "CheckpointError",
    "ProblemKind",
    "StoreUnavailable",
    "StoredEntry",
    "VerifyReport",
    "canonical_json",
    "load_key",
    "open_store",
    "read_checkpoint",
    "resolve_audit_url",
    "sha256_hex",
    "take_checkpoint",
    "write_checkpoint",
]
