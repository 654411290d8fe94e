"""The domestic intake source: files and message bodies in, canonical records out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from adapters.domestic.csv_reader import CsvExport
from adapters.domestic.errors import UnreadableInput
from adapters.domestic.json_reader import Item, json_items, jsonl_items
from adapters.domestic.jsontext import loads_record
from adapters.domestic.limits import MAX_RECORD_BYTES
from adapters.domestic.lines import codec_name, open_binary
from adapters.domestic.records import detect_kind, to_canonical
from exchange.errors import RecordError, Reject
from exchange.intake import Accepted, CanonicalRecord, IntakeItem
from exchange.model import Kind

SUFFIXES = (".json", ".jsonl", ".csv")


class DomesticSource:
    """Reads the domestic exports of domestic-formats.md; satisfies exchange.intake.Source.

    `read` checks what it can at once (file present, encoding known, CSV header) and
    raises an ExchangeError subclass for input that cannot be read; the records are
    then streamed, each an Accepted or a Reject.
    """

    def read(
        self, path: Path, *, kind: Kind | None = None, encoding: str | None = None
    ) -> Iterator[IntakeItem]:
        path = Path(path)
        kind = Kind(kind) if kind is not None else None
        suffix = path.suffix.lower()
        items: Iterator[Item]
        if suffix == ".csv":
            if kind not in (None, Kind.CCC):
                raise UnreadableInput(f"{path}: CSV exports carry CCC certificates only")
            items = CsvExport.open(path, encoding).items()
        elif suffix in (".json", ".jsonl"):
            used = codec_name(encoding) if encoding else "utf-8"
            open_binary(path).close()  # fail now on a missing or unreadable file
            reader = jsonl_items if suffix == ".jsonl" else json_items
            items = reader(path, used, kind)
        else:
            raise UnreadableInput(
                f"{path}: unsupported file type {suffix or '(none)'!r}; "
                f"expected one of {', '.join(SUFFIXES)}"
            )
        return _intake(items, str(path))

    def parse_message(
        self, body: bytes, *, kind: Kind | None = None, source: str = "message"
    ) -> CanonicalRecord:
        """One record from the message bus; RecordError (naming the field) if it is bad."""
        # `source` names the message for the caller's audit; reasons stay about the record.
        if len(body) > MAX_RECORD_BYTES:
            raise RecordError(f"message body larger than {MAX_RECORD_BYTES} bytes")
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RecordError(
                f"message body is not UTF-8 (byte {exc.start + 1}: {exc.reason})"
            ) from None
        return to_canonical(loads_record(text), Kind(kind) if kind is not None else None)

    def detect_kind(self, record: dict[str, object]) -> Kind | None:
        """Which family a raw record belongs to, from its content (None: cannot tell)."""
        return detect_kind(record)


def _intake(items: Iterator[Item], source: str) -> Iterator[IntakeItem]:
    for location, result in items:
        if isinstance(result, RecordError):
            yield Reject(source, location, result.record_id, result.field, result.reason)
        else:
            yield Accepted(result, source, location)


source = DomesticSource()
"""The instance the CLI and the bus consumer use."""
