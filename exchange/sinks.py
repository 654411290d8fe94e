"""Where converted documents go when the transport is files: DIR/<partner>/<kind>-<id><suffix>.

A record seen more than once in a run keeps every version: the current one (see
exchange/versions.py) under the plain name, each earlier distinct document beside it as
`<kind>-<id>.v<N><suffix>` (N its version number). Nothing is overwritten; identical
documents are written once.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

from exchange.errors import ExchangeError, Reject
from exchange.model import Kind
from exchange.pipeline import Converted

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]")


class OutputError(ExchangeError):
    """The output folder (or a file in it) cannot be written."""


def _unwritable(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


def safe_name(record_id: str) -> str:
    """Record ids become file names: anything outside [A-Za-z0-9._-] turns into '_'."""
    return _UNSAFE.sub("_", record_id)[:120]


@dataclass(frozen=True, slots=True)
class Placed:
    """One version's document for one partner, and the message that carried it."""

    number: int
    order: tuple[date, int]
    sha256: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Moved:
    """An earlier version's document, now kept under its version name."""

    placed: Placed
    path: Path


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    """Where this document's bytes are (an identical earlier document's file, if any)."""
    added: bool
    """A new file on disk (False: the same bytes were already there)."""
    moved: list[Moved]


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


def _no_link(path: Path) -> None:
    """OSError when `path` is a symbolic link: a folder we write into is never followed."""
    if path.is_symlink():
        raise OSError(f"{path} is a symbolic link; it is not followed")


class FileSink:
    """Writes each document atomically (temp file + rename): no half-written outputs.

    The temporary file has a random name and is created with O_EXCL | O_NOFOLLOW, so a
    link planted beside the output (say `out/eu/<doc>.xml.tmp`) is never followed and
    never written through; the rename replaces a link at the target itself, not what it
    points to."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self._made: set[str] = set()
        self._placed: dict[tuple[str, Kind, str], Placed | list[Placed]] = {}

    def path_for(self, doc: Converted, number: int | None = None) -> Path:
        version = f".v{number}" if number is not None else ""
        return self.out_dir / doc.partner / f"{doc.kind}-{safe_name(doc.record_id)}{version}{doc.suffix}"

    def write(self, doc: Converted) -> Path:
        """A document with no versions to keep (one record, one document)."""
        self._mkdir(doc.partner)
        return self._put(self.path_for(doc), doc.document)

    def write_version(self, doc: Converted, placed: Placed) -> Written:
        """Write one version's document, keeping every earlier version's file."""
        self._mkdir(doc.partner)
        key = (doc.partner, doc.kind, doc.record_id)
        earlier = self._placed.get(key)
        if earlier is None:
            self._placed[key] = placed
            return Written(self._put(self.path_for(doc), doc.document), True, [])
        versions = [earlier] if isinstance(earlier, Placed) else earlier
        where = self._layout(doc, versions)
        bodies = {sha: path.read_bytes() for sha, path in where.items()}
        bodies.setdefault(placed.sha256, doc.document)
        versions = [*versions, placed]
        self._placed[key] = versions
        wanted = self._layout(doc, versions)
        for sha, path in wanted.items():
            if where.get(sha) != path:
                self._put(path, bodies[sha])
        for path in where.values():
            if path not in wanted.values():
                path.unlink(missing_ok=True)
        moved = [
            Moved(p, wanted[p.sha256])
            for p in versions
            if p is not placed and where.get(p.sha256) != wanted[p.sha256]
        ]
        return Written(wanted[placed.sha256], placed.sha256 not in where, moved)

    def _layout(self, doc: Converted, versions: list[Placed]) -> dict[str, Path]:
        """digest -> file: the current version's under the plain name, others as .v<N>."""
        current = max(versions, key=lambda p: p.order)
        layout = {current.sha256: self.path_for(doc)}
        for p in sorted(versions, key=lambda p: p.number):
            layout.setdefault(p.sha256, self.path_for(doc, p.number))
        return layout

    def _mkdir(self, partner: str) -> None:
        if partner not in self._made:
            folder = self.out_dir / partner
            try:
                _no_link(folder)
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _unwritable(folder, exc) from None
            self._made.add(partner)

    @staticmethod
    def _put(target: Path, body: bytes) -> Path:
        # a fresh random name, created exclusively and never through a link planted there
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, _CREATE, 0o644)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(body)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise _unwritable(target, exc) from None
        return target


class RejectLog:
    """DIR/rejects.jsonl: one line per reject, written as they happen."""

    def __init__(self, path: Path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            self._fh: IO[str] = os.fdopen(fd, "w", encoding="utf-8")
        except OSError as exc:
            raise _unwritable(path, exc) from None
        self.path = path
        self.count = 0

    def write(self, reject: Reject) -> None:
        try:
            self._fh.write(json.dumps(reject.as_dict(), ensure_ascii=False) + "\n")
        except OSError as exc:
            raise _unwritable(self.path, exc) from None
        self.count += 1

    def close(self) -> None:
        self._fh.close()
