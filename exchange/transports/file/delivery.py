"""The `file` transport as `exchange run` serves it: each document of a file partner is
written into the drop directory its agreement names (`drop_directory`, relative to the
agreements file), atomically, and counts as delivered once it is there.

Atomic: the bytes go to a hidden temporary file in the same directory, are flushed to
disk, then linked under their final name, which fails rather than replace a file already
there; the directory is flushed too. A reader polling the directory sees a document whole
or not at all, and never a `.tmp` file under a document's name. Names are
`<kind>-<record id>-<message id><suffix>`: one file per message, never overwritten. The
same message again (a redelivery after a crash between the write and the broker's ack)
finds its own bytes there and is acknowledged once; other bytes under that name are
dead-lettered, not written over. A directory that cannot be written is a failed attempt,
retried on the agreement's schedule like any transport's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

import structlog

from exchange.audit import AuditEvent
from exchange.config import Agreement
from exchange.errors import ConfigError
from exchange.registry import partner_format
from exchange.service.consumer import Work
from exchange.service.delivery import PartnerDelivery, acknowledged_before, attempt_of
from exchange.service.topology import DLX
from exchange.sinks import safe_name
from exchange.state import Delivery, State

log = structlog.get_logger("exchange.transports.file.delivery")

OPTION = "drop_directory"


def drop_directory(agreement: Agreement, base: Path | None = None) -> Path:
    """The agreement's drop directory (ConfigError when it names none)."""
    value = agreement.options.get(OPTION)
    if not value or not isinstance(value, str):
        raise ConfigError(
            f"no {OPTION} in partners.{agreement.partner}.options: its documents wait in "
            f"mra.{agreement.partner}.work"
        )
    path = Path(value)
    return path if path.is_absolute() or base is None else base / path


class Exists(Exception):
    """Other bytes are already under the document's name."""


def write_atomically(folder: Path, name: str, data: bytes) -> tuple[Path, bool]:
    """`data` as folder/name, whole or not at all, never replacing another file.
    Returns (path, written now); (path, False) when the same bytes are there already."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, final)
        except FileExistsError:
            if final.is_file() and not final.is_symlink() and final.read_bytes() == data:
                return final, False
            raise Exists(f"{final} exists with other content; it is not replaced") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final, True


class FileDropDelivery(PartnerDelivery):
    """A file partner's work queue -> its drop directory; written = acknowledged."""

    def __init__(self, *, directory: Path, **kwargs: Any):
        super().__init__(**kwargs)
        self.directory = directory
        self.suffix = partner_format(self.agreement).suffix

    def deliver(self, work: Work, already_sent: bool) -> None:
        m = work.message
        mid = m.message_id or ""
        kind = str(m.properties.type or "doc")
        raw = m.headers.get("record-id") or ""
        record = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        name = f"{safe_name(kind)}-{safe_name(record)}-{safe_name(mid)}{self.suffix}"
        self.audit.append(self._entry(AuditEvent.SEND_IN_PROGRESS, m, directory=str(self.directory)))
        try:
            path, written = write_atomically(self.directory, name, m.body)
        except Exists as exc:
            self.dead_letter(work, DLX, self.partner, str(exc), partner=self.partner, record_id=record)
            work.states.append(
                Delivery(self.partner, mid, m.headers.get("sha256", ""), attempt_of(m), State.FAILED)
            )
            return
        except OSError as exc:
            self.failed_attempt(work, f"cannot write to {self.directory}: {exc.strerror or exc}")
            return
        if not written:
            log.info("already in the drop directory", partner=self.partner, message_id=mid, file=str(path))
        if written or not acknowledged_before(self.audit, mid, self.partner):
            self.audit.append(self._entry(AuditEvent.ACKNOWLEDGED, m, file=str(path)))
        work.states.append(
            Delivery(self.partner, mid, m.headers.get("sha256", ""), attempt_of(m), State.ACKNOWLEDGED)
        )
