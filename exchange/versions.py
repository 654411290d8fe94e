"""Versions of one record: a certificate seen twice is two versions, never an overwrite.

Which version is current: the one with the later status change (a certificate's latest
history date, else its issue date; a GLP statement's date), then the later in input order.
Versions are numbered 1, 2, ... in the order they were read. Each version remembers which
fields it carries (as a bit mask over a shared table of field paths, so a long run stays
small) so that a version lacking fields another version has can be named in a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel

from exchange.intake import Accepted, CanonicalRecord
from exchange.model import GlpStatement, Kind, ProductCertificate


def last_status_change(record: CanonicalRecord) -> date | None:
    """The date a record's status last changed, as far as the record itself tells."""
    if isinstance(record, ProductCertificate):
        return max([record.issue_date, *(change.date for change in record.history)])
    if isinstance(record, GlpStatement):
        return record.statement_date
    return None


def paths_of(value: Any, prefix: str) -> Iterator[str]:
    """Dotted paths of every non-empty value and container; list items share one path
    (`a[].b`)."""
    if value is None or value == "" or value == []:
        return
    if prefix:
        yield prefix
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from paths_of(getattr(value, name), f"{prefix}.{name}" if prefix else name)
        return
    if isinstance(value, list):
        for item in value:
            yield from paths_of(item, f"{prefix}[]")


class FieldTable:
    """Field path <-> bit: a record's field set becomes one int."""

    def __init__(self) -> None:
        self._bits: dict[str, int] = {}
        self._names: list[str] = []

    def mask(self, record: CanonicalRecord) -> int:
        mask = 0
        for path in paths_of(record, ""):
            bit = self._bits.get(path)
            if bit is None:
                bit = self._bits[path] = len(self._names)
                self._names.append(path)
            mask |= 1 << bit
        return mask

    def names(self, mask: int) -> list[str]:
        """The paths in `mask`, without those whose parent is in it too."""
        names = [name for bit, name in enumerate(self._names) if mask >> bit & 1]
        return [n for n in names if _parent(n) not in names]


def _parent(path: str) -> str:
    return path[:-2] if path.endswith("[]") else path.rpartition(".")[0]


@dataclass(frozen=True, slots=True)
class Version:
    number: int
    changed: date | None
    position: int
    """Input order across the whole run."""
    source: str
    location: str | None
    fields: int

    @property
    def order(self) -> tuple[date, int]:
        return (self.changed or date.min, self.position)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.location}" if self.location else self.source


@dataclass(slots=True)
class RecordVersions:
    kind: Kind
    record_id: str
    versions: list[Version] = field(default_factory=list)

    @property
    def current(self) -> Version:
        return max(self.versions, key=lambda v: v.order)


@dataclass(frozen=True, slots=True)
class LostFields:
    """Version `version` lacks `fields` that version `other` of the same record carries."""

    kind: Kind
    record_id: str
    version: Version
    other: Version
    fields: list[str]

    def __str__(self) -> str:
        return (
            f"{self.kind}-{self.record_id} version {self.version.number} ({self.version.where}) lacks"
            f" {', '.join(self.fields)} present in version {self.other.number} ({self.other.where})"
        )


class VersionBook:
    """Every record seen in a run, its versions and which one is current."""

    def __init__(self) -> None:
        self._records: dict[tuple[Kind, str], RecordVersions] = {}
        self._fields = FieldTable()
        self._position = 0

    def add(self, accepted: Accepted) -> tuple[RecordVersions, Version, list[LostFields]]:
        """Record one more version; returns its record, itself, and fields lost either way."""
        record = accepted.record
        key = (record.kind, record.record_id)
        versions = self._records.get(key)
        if versions is None:
            versions = self._records[key] = RecordVersions(record.kind, record.record_id)
        self._position += 1
        version = Version(
            len(versions.versions) + 1,
            last_status_change(record),
            self._position,
            accepted.source,
            accepted.location,
            self._fields.mask(record),
        )
        lost: list[LostFields] = []
        for other in versions.versions:
            for a, b in ((version, other), (other, version)):
                missing = b.fields & ~a.fields
                if missing:
                    lost.append(LostFields(record.kind, record.record_id, a, b, self._fields.names(missing)))
        versions.versions.append(version)
        return versions, version, lost
