"""JSON Lines and JSON documents, read as streams of (location, record or error).

A `.json` file holds one record or an array of them. Arrays are streamed: the reader
finds each element's end by bracket counting (strings skipped whole), decodes just
that slice, and forgets it, so a million-record array needs one record's memory.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from adapters.domestic.errors import EncodingError, UnreadableInput
from adapters.domestic.jsontext import SKIP_TO_BRACKET, loads_record, loads_utf8, parsed
from adapters.domestic.limits import CHUNK_CHARS, MAX_DEPTH, MAX_RECORD_BYTES
from adapters.domestic.lines import LineReader, LineTooLong, open_binary
from adapters.domestic.records import to_canonical
from exchange.errors import RecordError
from exchange.intake import CanonicalRecord
from exchange.model import Kind

Item = tuple[str | None, CanonicalRecord | RecordError | str]
"""Where, and what: a record, the error that stops it, or (raw mode) its JSON text."""

_WS = re.compile(r"[ \t\r\n]*")
_SCALAR = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^,\]\s]+')
_MIB = MAX_RECORD_BYTES // 1024 // 1024


def _convert(text: str, kind: Kind | None) -> CanonicalRecord | RecordError | str:
    try:
        return to_canonical(loads_record(text), kind)
    except RecordError as exc:
        return exc


def _to_canonical(value: object, kind: Kind | None) -> CanonicalRecord | RecordError:
    try:
        return to_canonical(value, kind)
    except RecordError as exc:
        return exc


def raw_text(text: str, kind: Kind | None) -> str:
    """The record's JSON text as exported (for publishing it as one message)."""
    return text


Convert = Callable[[str, Kind | None], CanonicalRecord | RecordError | str]


def jsonl_items(path: Path, encoding: str, kind: Kind | None, convert: Convert = _convert) -> Iterator[Item]:
    """One record per line; blank lines are skipped, line numbers count them."""
    # UTF-8 lines go to the JSON parser as bytes (no decode to str and back); any line
    # that is not plainly a shallow JSON value takes the general path below.
    direct = convert is _convert and encoding == "utf-8"
    with open_binary(path) as stream:
        lines = LineReader(stream, encoding, path)
        while True:
            lines.start_record()
            try:
                raw = lines.next_bytes()
            except StopIteration:
                return
            except LineTooLong as exc:
                yield f"line {exc.line_no}", RecordError(f"the line is {exc}")
                continue
            if direct:
                value = loads_utf8(raw)
                if parsed(value):
                    yield f"line {lines.line_no}", _to_canonical(value, kind)
                    continue
            try:
                text = lines.decode(raw)
            except EncodingError as exc:  # this line is rejected; the next ones are read
                yield f"line {lines.line_no}", RecordError(str(exc).split(": ", 1)[-1])
                continue
            if text.strip():
                yield f"line {lines.line_no}", convert(text, kind)


class _Text:
    """Decoded text pulled from a binary file in chunks; `buf` is the unconsumed part."""

    def __init__(self, path: Path, encoding: str) -> None:
        self._path = path
        self._stream = open_binary(path)
        name = "utf-8-sig" if encoding == "utf-8" else encoding
        self._decoder = codecs.getincrementaldecoder(name)(errors="strict")
        self._encoding = encoding
        self._bytes = 0
        self.buf = ""
        self.eof = False

    def close(self) -> None:
        self._stream.close()

    def more(self, at_least: int = CHUNK_CHARS) -> bool:
        """Append at least `at_least` bytes' worth of text; False once the file is done."""
        if self.eof:
            return False
        raw = self._stream.read(max(at_least, CHUNK_CHARS))
        try:
            text = self._decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            raise EncodingError(
                f"{self._path}: byte {self._bytes + exc.start + 1} cannot be decoded as "
                f"{self._encoding} ({exc.reason}); --encoding can force another encoding"
            ) from None
        self._bytes += len(raw)
        self.eof = not raw
        self.buf += text
        return True

    def drop(self, count: int) -> None:
        """Forget the first `count` characters (consumed)."""
        self.buf = self.buf[count:]

    def skip_ws(self, pos: int) -> int:
        """Position of the next non-blank character at or after `pos` (or len(buf) at EOF)."""
        while True:
            pos = _WS.match(self.buf, pos).end()  # type: ignore[union-attr]
            if pos < len(self.buf) or not self.more():
                return pos


class _Broken(Exception):
    """The array's structure is broken here: the rest of the file cannot be trusted."""


def _container_end(text: _Text, start: int) -> tuple[int, bool]:
    """End of the array or object at `start`, and whether it nests too deeply."""
    depth, deep, pos = 0, False, start
    while True:
        pos = SKIP_TO_BRACKET.match(text.buf, pos).end()  # type: ignore[union-attr]
        if pos >= len(text.buf) or text.buf[pos] == '"':  # need more text
            if len(text.buf) - start > MAX_RECORD_BYTES:
                raise _Broken(f"record is larger than {_MIB} MiB")
            if not text.more(len(text.buf) - start):
                raise _Broken("the file ends inside this record")
            continue
        if text.buf[pos] in "[{":
            depth += 1
            deep = deep or depth > MAX_DEPTH
        else:
            depth -= 1
            if depth == 0:
                return pos + 1, deep
        pos += 1


def _scalar_end(text: _Text, start: int) -> int:
    while True:
        m = _SCALAR.match(text.buf, start)
        if m is None:
            raise _Broken("expected a value")
        if m.end() < len(text.buf) or text.eof:
            return m.end()
        if len(text.buf) - start > MAX_RECORD_BYTES:
            raise _Broken(f"value is larger than {_MIB} MiB")
        text.more(len(text.buf) - start)


def _element(text: _Text, pos: int) -> tuple[int, str | RecordError]:
    """End of the array element at `pos`, and its text (or why it cannot be decoded)."""
    if text.buf[pos] in "[{":
        end, deep = _container_end(text, pos)
        if deep:
            return end, RecordError(f"JSON nested more than {MAX_DEPTH} levels deep")
        return end, text.buf[pos:end]
    end = _scalar_end(text, pos)
    return end, text.buf[pos:end]


def _array_items(text: _Text, kind: Kind | None, convert: Convert) -> Iterator[Item]:
    pos = text.skip_ws(1)  # just after "["
    index = 0
    while pos < len(text.buf) and text.buf[pos] != "]":
        try:
            end, element = _element(text, pos)
        except _Broken as exc:
            yield f"index {index}", RecordError(f"{exc}; the rest of the file is not read")
            return
        yield f"index {index}", convert(element, kind) if isinstance(element, str) else element
        index += 1
        if end > CHUNK_CHARS:  # forget what is consumed, but not after every record
            text.drop(end)
            end = 0
        pos = text.skip_ws(end)
        if pos < len(text.buf) and text.buf[pos] == ",":
            pos = text.skip_ws(pos + 1)
        elif pos < len(text.buf) and text.buf[pos] != "]":
            yield (
                f"index {index}",
                RecordError(f"expected , or ] after index {index - 1}; the rest of the file is not read"),
            )
            return
    if pos >= len(text.buf):
        yield f"index {index}", RecordError("the file ends before the array is closed by ]")
        return
    if text.skip_ws(pos + 1) < len(text.buf):
        yield None, RecordError("unexpected content after the closing ] of the array")


def json_items(path: Path, encoding: str, kind: Kind | None, convert: Convert = _convert) -> Iterator[Item]:
    """The record, or each record of the array, in a `.json` file."""
    text = _Text(path, encoding)
    try:
        start = text.skip_ws(0)
        if start >= len(text.buf):
            raise UnreadableInput(f"{path}: empty file, no JSON document")
        if text.buf[start] == "[":
            text.drop(start)
            yield from _array_items(text, kind, convert)
            return
        while text.more():
            if len(text.buf) > MAX_RECORD_BYTES:
                yield (
                    None,
                    RecordError(
                        f"a single JSON record larger than {_MIB} MiB; "
                        "send big exports as a JSON array or JSON Lines"
                    ),
                )
                return
        yield None, convert(text.buf, kind)
    finally:
        text.close()
