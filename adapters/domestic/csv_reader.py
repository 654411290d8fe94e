"""The CCC CSV export as a stream of (location, certificate or error).

The encoding is settled from the header line before any row is read: a UTF-8 BOM
means UTF-8; otherwise UTF-8 if the header decodes as UTF-8, else GB18030 (older
exports); `encoding` forces one. The location of a row is `line N`, N being its record
number with the header as line 1 (the row number a spreadsheet shows; it equals the
physical line unless a quoted field spans lines).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from adapters.domestic.ccc_csv import FACTORY_COUNTRY, HEADER, row_to_certificate, row_to_record
from adapters.domestic.errors import CsvHeaderError, EncodingError
from adapters.domestic.limits import CHUNK_CHARS
from adapters.domestic.lines import BOM, LineReader, LineTooLong, codec_name, open_binary
from adapters.domestic.normalize import code
from exchange.errors import RecordError
from exchange.intake import CanonicalRecord

Item = tuple[str, CanonicalRecord | RecordError | str]

DETECTED = ("utf-8", "gb18030")


def _decode_header(raw: bytes, forced: str | None, path: Path) -> tuple[str, str]:
    """The header text and the encoding the file is read in."""
    if raw.startswith(BOM) and forced in (None, "utf-8"):
        forced, raw = "utf-8", raw[len(BOM) :]
    if forced is not None:
        try:
            return raw.decode(forced), forced
        except UnicodeDecodeError as exc:
            hint = next((e for e in DETECTED if e != forced and _decodes(raw, e)), None)
            raise EncodingError(
                f"{path}: the header cannot be decoded as {forced} ({exc.reason})"
                + (f"; it looks like {hint}" if hint else "")
            ) from None
    for candidate in DETECTED:
        if _decodes(raw, candidate):
            return raw.decode(candidate), candidate
    raise EncodingError(f"{path}: the header is neither UTF-8 nor GB18030; use --encoding")


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _columns(header: list[str], path: Path, encoding: str) -> dict[str, int]:
    names = [h.strip().lstrip("\ufeff") for h in header]
    index = {name: i for i, name in enumerate(names)}
    missing = [h for h in HEADER if h not in index]
    unknown = [n for n in names if n not in HEADER and n != FACTORY_COUNTRY]
    duplicated = len(index) != len(names)
    if missing or unknown or duplicated:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if unknown:
            problems.append("unknown " + ", ".join(repr(u) for u in unknown))
        if duplicated:
            problems.append("a column appears twice")
        raise CsvHeaderError(
            f"{path}: not the CCC export header (read as {encoding}): {'; '.join(problems)}. "
            f"Expected: {','.join(HEADER)}[,{FACTORY_COUNTRY}]"
        )
    return index


@dataclass(frozen=True)
class CsvExport:
    """A CCC CSV export whose header has been read and checked."""

    path: Path
    encoding: str
    index: dict[str, int]

    @classmethod
    def open(cls, path: Path, encoding: str | None = None) -> CsvExport:
        """Check the file now, so an unreadable one fails before any record moves."""
        forced = codec_name(encoding) if encoding else None
        with open_binary(path) as stream:
            raw = stream.readline(CHUNK_CHARS)
        if not raw.strip().removeprefix(BOM):
            raise CsvHeaderError(f"{path}: empty file, no header row")
        text, used = _decode_header(raw, forced, path)
        header = next(csv.reader([text]), [])
        return cls(path, used, _columns(header, path, used))

    def items(self, raw: bool = False) -> Iterator[Item]:
        """Each data row as a certificate (raw: as its JSON-shaped record) or the error
        that stops it, streamed."""
        width = len(self.index)
        narrowest = width - 1 if FACTORY_COUNTRY in self.index else width
        with open_binary(self.path) as stream:
            lines = LineReader(stream, self.encoding, self.path)
            rows = csv.reader(lines)
            next(rows)  # the header, checked in open()
            record = 1
            while True:
                lines.start_record()
                try:
                    row = next(rows)
                except StopIteration:
                    return
                except LineTooLong as exc:
                    record += 1
                    yield f"line {record}", RecordError(f"the record is {exc}")
                    continue
                except csv.Error as exc:
                    record += 1
                    yield f"line {record}", RecordError(f"not a valid CSV row: {exc}")
                    continue
                except EncodingError as exc:  # this row is rejected; the next ones are read
                    record += 1
                    yield f"line {record}", RecordError(str(exc).split(": ", 1)[-1])
                    continue
                record += 1
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                yield f"line {record}", self._convert(row, narrowest, width, raw)

    def _convert(
        self, row: list[str], narrowest: int, width: int, raw: bool = False
    ) -> CanonicalRecord | RecordError | str:
        if not narrowest <= len(row) <= width:
            first = self.index[HEADER[0]]
            rid = code(row[first]) if first < len(row) else ""
            return RecordError(
                f"the row has {len(row)} values; the header has {width} columns",
                record_id=rid if 0 < len(rid) <= 40 else None,
            )
        if raw:
            return json.dumps(row_to_record(row, self.index), ensure_ascii=False)
        try:
            return row_to_certificate(row, self.index)
        except RecordError as exc:
            return exc
