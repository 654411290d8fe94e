"""What an intake source yields: accepted canonical records or rejects, one by one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from exchange.errors import RecordError, Reject
from exchange.model import GlpStatement, Kind, ProductCertificate, PtRound

CanonicalRecord = ProductCertificate | GlpStatement | PtRound


@dataclass(frozen=True, slots=True)
class Accepted:
    """A record that passed intake, with where it came from (for audit and rejects)."""

    record: CanonicalRecord
    source: str
    location: str | None = None


IntakeItem = Accepted | Reject


class Source(Protocol):
    """A domestic (or other) source adapter: files and message bodies in, records out.

    `read` streams: memory stays flat however long the file.
    """

    def read(
        self, path: Path, *, kind: Kind | None = None, encoding: str | None = None
    ) -> Iterator[IntakeItem]: ...

    def parse_message(
        self, body: bytes, *, kind: Kind | None = None, source: str = "message"
    ) -> CanonicalRecord: ...

    def raw_records(
        self, path: Path, *, encoding: str | None = None
    ) -> Iterator[tuple[str | None, str | RecordError]]:
        """Each record of an export as one JSON text, as a domestic system publishes it."""
        ...

    def detect_kind(self, record: dict[str, object]) -> Kind | None:
        """Which family a raw record belongs to, from its content (None: cannot tell)."""
        ...
