"""Physical lines of a text file, one at a time, decoded and length-capped.

Reading bytes and decoding line by line (rather than through a text stream) keeps
memory flat, names the exact line that does not decode, and lets an over-long line be
skipped without ever holding it. Splitting on b"\\n" is safe for every encoding the
readers accept: ASCII-compatible ones (UTF-8, GB18030, GBK …) never use byte 0x0A
inside a multi-byte character.
"""

from __future__ import annotations

import codecs
from io import BufferedReader
from pathlib import Path
from typing import cast

from adapters.domestic.errors import EncodingError, UnreadableInput
from adapters.domestic.limits import CHUNK_CHARS, MAX_RECORD_BYTES

BOM = codecs.BOM_UTF8


class LineTooLong(Exception):
    """A line longer than MAX_RECORD_BYTES; it has been skipped, the reader goes on."""

    def __init__(self, line_no: int) -> None:
        self.line_no = line_no
        super().__init__(f"longer than {MAX_RECORD_BYTES // 1024 // 1024} MiB; skipped")


def codec_name(encoding: str) -> str:
    """Canonical codec name of `encoding`, refused when a line reader cannot split it."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise UnreadableInput(f"unknown encoding {encoding!r}") from None
    if '\n,"'.encode(name, errors="replace") != b'\n,"':
        raise UnreadableInput(f"encoding {encoding!r} is not ASCII-compatible; it is not supported")
    return "utf-8" if name == "utf-8-sig" else name


def open_binary(path: Path) -> BufferedReader:
    """`path` opened for reading, or UnreadableInput saying why not."""
    try:  # a 64 KiB buffer: one read for dozens of records, not a few (system calls cost)
        return cast("BufferedReader", path.open("rb", buffering=CHUNK_CHARS))
    except FileNotFoundError:
        raise UnreadableInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UnreadableInput(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot be read: {exc.strerror}") from None


class LineReader:
    """Iterates decoded physical lines (line ending kept); `line_no` is the last one read.

    Raises LineTooLong for an over-long line (after skipping it) and EncodingError for a
    line that does not decode. `budget` caps the characters of a multi-line record:
    the caller resets it per record, so an unclosed CSV quote cannot swallow the file.
    """

    def __init__(self, stream: BufferedReader, encoding: str, path: Path) -> None:
        self._stream = stream
        self._encoding = encoding
        self._path = path
        self.line_no = 0
        self.budget = MAX_RECORD_BYTES
        if encoding == "utf-8" and stream.peek(3).startswith(BOM):
            stream.read(3)  # a UTF-8 BOM is a marker, not part of the first line

    def start_record(self) -> None:
        """Give the next record its full character budget."""
        self.budget = MAX_RECORD_BYTES

    def __iter__(self) -> LineReader:
        return self

    def __next__(self) -> str:
        return self.decode(self.next_bytes())

    def next_bytes(self) -> bytes:
        """The next line undecoded (same checks and counting as iterating); `decode` it."""
        raw = self._stream.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            raise StopIteration
        self.line_no += 1
        if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            self._skip_rest()
            raise LineTooLong(self.line_no)
        self.budget -= len(raw)
        if self.budget < 0:  # a record spanning lines has outgrown the cap
            raise LineTooLong(self.line_no)
        return raw

    def decode(self, raw: bytes) -> str:
        """The text of the line `next_bytes` just gave, or EncodingError naming it."""
        try:
            return raw.decode(self._encoding)
        except UnicodeDecodeError as exc:
            raise EncodingError(
                f"{self._path}: line {self.line_no} cannot be decoded as {self._encoding} "
                f"(byte {exc.start + 1} of the line: {exc.reason}); "
                "is the file in another encoding? --encoding can force one"
            ) from None

    def _skip_rest(self) -> None:
        while True:
            raw = self._stream.readline(CHUNK_CHARS)
            if not raw or raw.endswith(b"\n"):
                return
