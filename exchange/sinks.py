"""Where converted documents go when the transport is files: DIR/<partner>/<kind>-<id><suffix>."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import IO

from exchange.errors import Reject
from exchange.pipeline import Converted

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]")


def safe_name(record_id: str) -> str:
    """Record ids become file names: anything outside [A-Za-z0-9._-] turns into '_'."""
    return _UNSAFE.sub("_", record_id)[:120]


class FileSink:
    """Writes each document atomically (temp file + rename): no half-written outputs."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self._made: set[str] = set()

    def path_for(self, doc: Converted) -> Path:
        return self.out_dir / doc.partner / f"{doc.kind}-{safe_name(doc.record_id)}{doc.suffix}"

    def write(self, doc: Converted) -> Path:
        if doc.partner not in self._made:
            (self.out_dir / doc.partner).mkdir(parents=True, exist_ok=True)
            self._made.add(doc.partner)
        target = self.path_for(doc)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(doc.document)
        os.replace(tmp, target)
        return target

    def write_beside(self, doc: Converted, suffix: str, data: bytes) -> Path:
        """Another form of the same document (e.g. `.jwt` beside `.jsonld`)."""
        target = self.path_for(doc).with_suffix(suffix)
        _atomic(target, data)
        return target

    def write_file(self, partner: str, relative: str, data: bytes) -> Path:
        """A file the partner's documents refer to (status lists, the DID document)."""
        target = self.out_dir / partner / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic(target, data)
        return target


def _atomic(target: Path, data: bytes) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


class RejectLog:
    """DIR/rejects.jsonl: one line per reject, written as they happen."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: IO[str] = path.open("w", encoding="utf-8")
        self.count = 0

    def write(self, reject: Reject) -> None:
        self._fh.write(json.dumps(reject.as_dict(), ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        self._fh.close()
