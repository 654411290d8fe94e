"""What every partner format offers the pipeline: map, render, validate, parse back.

The steps are separate so each can be tested and timed alone:
record --map--> document --validate--> (checked) --render--> bytes.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from exchange.errors import RecordError
from exchange.intake import CanonicalRecord
from exchange.mapping.codes import CodeList
from exchange.model import MODEL_BY_KIND, Kind
from exchange.model.common import friendly_message


class PartnerFormat(ABC):
    """One partner's document formats, one per family it receives."""

    partner: str
    suffix: str
    media_type: str
    not_carried: Mapping[Kind, frozenset[str]] = {}
    """Canonical fields each family's documents leave out on purpose (the manifest's
    `not_carried`, docs/mapping.md): the behaviour suite fails on any other loss."""
    issues_credentials: bool = False
    """Verifiable credentials the issuing step completes (version id, status) and secures."""

    @property
    @abstractmethod
    def families(self) -> frozenset[Kind]: ...

    @abstractmethod
    def map(self, record: CanonicalRecord) -> Any:
        """Canonical record -> partner document in memory (raises MappingError)."""

    @abstractmethod
    def validate(self, kind: Kind, document: Any) -> None:
        """Check a mapped document against its schema (raises DocumentError)."""

    def stamp_version(self, kind: Kind, document: Any, version: int) -> Any:
        """The mapped document carrying the record's version number (1, 2, ... across
        messages and runs), where the family's format has a place for it; unchanged where
        it has none (an older format version, a partner added as files)."""
        return document

    def validate_issued(self, kind: Kind, document: Any, *, draft_checked: bool = False) -> None:
        """Check an issued credential (only formats that issue credentials have them)."""
        self.validate(kind, document)

    @abstractmethod
    def render(self, document: Any) -> bytes:
        """Serialise a mapped, validated document."""

    def draft_of(self, data: bytes) -> Any:
        """The document a credential draft was rendered from, for the issuing step to
        complete (a format that issues credentials keeps it; otherwise parsed again)."""
        return json.loads(data)

    @abstractmethod
    def parse(self, data: bytes) -> CanonicalRecord:
        """Untrusted partner bytes -> canonical record (hardened, validated, reverse-mapped)."""

    @abstractmethod
    def check_bytes(self, data: bytes) -> Kind:
        """Validate untrusted bytes against the schema their namespace names; return the kind."""

    @abstractmethod
    def namespaces(self) -> Mapping[str, Kind]:
        """Document namespaces (or JSON-LD types) this format owns."""

    @abstractmethod
    def code_lists(self, kind: Kind) -> Mapping[str, CodeList]:
        """Code lists the kind's mapping uses, for the start-up coverage check."""

    def convert(self, record: CanonicalRecord) -> bytes:
        """map -> validate -> render: an output that fails its own schema is never returned."""
        document = self.map(record)
        self.validate(record.kind, document)
        return self.render(document)


def build_record(kind: Kind, data: dict[str, Any], *, source: str) -> CanonicalRecord:
    """A dict read back from a partner document -> canonical model, errors naming the field."""
    try:
        return MODEL_BY_KIND[kind].model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise RecordError(f"{source}: {friendly_message(first['type'], first['msg'])}", field=field) from None
