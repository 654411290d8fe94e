"""Errors that name the record and the field, so every reject can say what was wrong."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class ExchangeError(Exception):
    """Base of the service's own errors."""


class ConfigError(ExchangeError):
    """Configuration or mapping data is wrong: found at start-up, before any record moves."""


class RecordError(ExchangeError):
    """One record cannot go on; says which record and which field."""

    def __init__(self, reason: str, *, field: str | None = None, record_id: str | None = None):
        self.reason = reason
        self.field = field
        self.record_id = record_id
        where = " ".join(
            p for p in (f"record {record_id}" if record_id else "", f"field {field}" if field else "") if p
        )
        super().__init__(f"{where}: {reason}" if where else reason)


class MappingError(RecordError):
    """A canonical value has no counterpart in a partner's code list or format."""


class DocumentError(ExchangeError):
    """A document (ours or a partner's) is not well-formed, too large, or fails its schema."""

    def __init__(self, reason: str, *, messages: list[str] | None = None):
        self.reason = reason
        self.messages = messages or []
        super().__init__(reason if not self.messages else f"{reason}: " + "; ".join(self.messages))


@dataclass(frozen=True, slots=True)
class Reject:
    """One rejected record, as written to rejects.jsonl and audited as REJECTED."""

    source: str
    location: str | None
    record_id: str | None
    field: str | None
    reason: str
    partner: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
