"""Where converted documents go when the transport is files: DIR/<partner>/<kind>-<id><suffix>."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import IO

from exchange.errors import Reject
from exchange.pipeline import Converted

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]")


def safe_name(record_id: str) -> str:
    """Record ids become file names: anything outside [A-Za-z0-9._-] turns into '_'."""
    return _UNSAFE.sub("_", record_id)[:120]


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

    def path_for(self, doc: Converted) -> Path:
        return self.out_dir / doc.partner / f"{doc.kind}-{safe_name(doc.record_id)}{doc.suffix}"

    def write(self, doc: Converted) -> Path:
        if doc.partner not in self._made:
            folder = self.out_dir / doc.partner
            _no_link(folder)
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(doc.partner)
        target = self.path_for(doc)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, _CREATE, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(doc.document)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target


class RejectLog:
    """DIR/rejects.jsonl: one line per reject, written as they happen."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        self._fh: IO[str] = os.fdopen(fd, "w", encoding="utf-8")
        self.count = 0

    def write(self, reject: Reject) -> None:
        self._fh.write(json.dumps(reject.as_dict(), ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        self._fh.close()
