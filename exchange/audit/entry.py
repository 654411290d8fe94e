"""What a caller appends (AuditEntry) and what the store gives back (StoredEntry)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exchange.audit.events import AuditEvent

_HEX = frozenset("0123456789abcdef")


def is_sha256_hex(value: str) -> bool:
    """True for a lower-case hex SHA-256 digest, the only form stored and hashed."""
    return len(value) == 64 and _HEX.issuperset(value)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One step in a message's life, as the pipeline reports it.

    `details` is serialised when the entry is appended, so later changes to the mapping
    do not reach the store. `record_id` is the business key auditors search by
    (certificate number, facility, PT round).
    """

    event: AuditEvent
    message_id: str | None = None
    record_id: str | None = None
    partner: str | None = None
    actor: str = "service"
    details: Mapping[str, Any] = field(default_factory=dict)
    doc_sha256: str | None = None

    def __post_init__(self) -> None:
        # Fail at the call site, not at flush time, where a bad entry would hold up the batch.
        if not isinstance(self.event, AuditEvent):
            object.__setattr__(self, "event", AuditEvent(self.event))
        if self.doc_sha256 is not None and not is_sha256_hex(self.doc_sha256):
            raise ValueError(f"doc_sha256 is not a lower-case SHA-256 hex digest: {self.doc_sha256!r}")
        if not self.actor:
            raise ValueError("actor must name a service or an operator")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEntry(AuditEntry):
    """An entry as written: its place in the chain, when it was appended, and its hashes.

    Fields are shown exactly as stored, unvalidated: a tampered entry must still be
    traceable and exportable; judging it is `verify`'s job.
    """

    seq: int
    time: datetime
    """UTC, microsecond precision: when the step was appended."""
    prev_hash: str
    hash: str

    def __post_init__(self) -> None:
        pass

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `trace --json` and exports; same field names as the store."""
        return {
            "seq": self.seq,
            "time": format_time(self.time),
            "event": str(self.event),
            "message_id": self.message_id,
            "record_id": self.record_id,
            "partner": self.partner,
            "actor": self.actor,
            "details": dict(self.details),
            "doc_sha256": self.doc_sha256,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def format_time(t: datetime) -> str:
    """The one textual form of a time in the chain: UTC, six fractional digits, `Z`.

    A naive datetime is taken as UTC.
    """
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
