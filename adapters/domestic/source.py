"""The domestic intake source: files and message bodies in, canonical records out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from adapters.domestic.csv_reader import CsvExport
from adapters.domestic.errors import UnreadableInput
from adapters.domestic.json_reader import Item, json_items, jsonl_items, raw_text
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
        return _intake(self._items(Path(path), kind, encoding, raw=False), str(path))

    def raw_records(
        self, path: Path, *, encoding: str | None = None
    ) -> Iterator[tuple[str | None, str | RecordError]]:
        """Each record as one JSON text, the way a domestic system publishes it on the bus
        (JSON as exported; a CSV row in the JSON shape of the contract)."""
        for location, item in self._items(Path(path), None, encoding, raw=True):
            yield location, item if isinstance(item, (str, RecordError)) else RecordError("not raw")

    def _items(self, path: Path, kind: Kind | None, encoding: str | None, raw: bool) -> Iterator[Item]:
        kind = Kind(kind) if kind is not None else None
        suffix = path.suffix.lower()
        if suffix == ".csv":
            if kind not in (None, Kind.CCC):
                raise UnreadableInput(f"{path}: CSV exports carry CCC certificates only")
            return CsvExport.open(path, encoding).items(raw=raw)
        if suffix in (".json", ".jsonl"):
            used = codec_name(encoding) if encoding else "utf-8"
            open_binary(path).close()  # fail now on a missing or unreadable file
            reader = jsonl_items if suffix == ".jsonl" else json_items
            return reader(path, used, kind, raw_text) if raw else reader(path, used, kind)
        raise UnreadableInput(
            f"{path}: unsupported file type {suffix or '(none)'!r}; expected one of {', '.join(SUFFIXES)}"
        )

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
            raise RecordError(f"message body is not UTF-8 (byte {exc.start + 1}: {exc.reason})") from None
        return to_canonical(loads_record(text), Kind(kind) if kind is not None else None)

    def detect_kind(self, record: dict[str, object]) -> Kind | None:
        """Which family a raw record belongs to, from its content (None: cannot tell)."""
        return detect_kind(record)


def _intake(items: Iterator[Item], source: str) -> Iterator[IntakeItem]:
    for location, result in items:
        if isinstance(result, str):  # raw text only comes back when asked for
            raise TypeError("raw record in intake")
        if isinstance(result, RecordError):
            yield Reject(source, location, result.record_id, result.field, result.reason)
        else:
            yield Accepted(result, source, location)


source = DomesticSource()
"""The instance the CLI and the bus consumer use."""
