"""The documents we sent each partner and the receipts they sent back, kept beside the audit
trail (same database) so operators can see and download exactly what was exchanged.

The audit trail holds each document's SHA-256 only; the queues hold the bodies only until
they are delivered. Rows are written by the workers once per batch (one executemany), never
once per message. A row is never changed: a second copy of the same content is ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from exchange.audit.entry import format_time
from exchange.db import execute_many, open_database


class Kind(StrEnum):
    DOCUMENT = "document"
    """What we sent the partner (the converted, validated document)."""
    RECEIPT = "receipt"
    """What the partner answered (ACK / WARN / REJECT with its reason)."""


@dataclass(frozen=True, slots=True)
class Archived:
    partner: str
    message_id: str
    kind: Kind
    sha256: str
    content_type: str
    body: bytes
    stored_at: str = ""
    """Chain-format UTC time; set by the archive when written."""


class DocumentArchive:
    """SQLite or PostgreSQL, chosen by the audit URL; safe to share between threads."""

    def __init__(self, url: str | None = None):
        db = open_database(url)
        self._lock = threading.Lock()
        self._conn: Any = db.conn
        self._ph = db.placeholder
        self._table = f"{db.prefix}document_archive"
        blob = "BYTEA" if db.postgres else "BLOB"
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} ("
            " partner TEXT NOT NULL, message_id TEXT NOT NULL, kind TEXT NOT NULL,"
            f" sha256 TEXT NOT NULL, content_type TEXT NOT NULL, body {blob} NOT NULL,"
            " stored_at TEXT NOT NULL, PRIMARY KEY (partner, message_id, kind, sha256))"
        )
        self._conn.execute(
            f"CREATE INDEX IF NOT EXISTS document_archive_by_message ON {self._table} (message_id)"
        )

    def put_many(self, rows: Iterable[Archived]) -> None:
        """One transaction, one executemany; durable on return."""
        now = format_time(datetime.now(UTC))
        values = [
            (r.partner, r.message_id, r.kind.value, r.sha256, r.content_type, r.body, now) for r in rows
        ]
        if not values:
            return
        p = self._ph
        sql = (
            f"INSERT INTO {self._table} (partner, message_id, kind, sha256, content_type, body, stored_at)"
            f" VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING"
        )
        with self._lock:
            execute_many(self._conn, sql, values)

    def for_message(self, message_id: str) -> list[Archived]:
        """Everything kept for a message id, every partner, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT partner, message_id, kind, sha256, content_type, body, stored_at FROM {self._table}"
                f" WHERE message_id = {self._ph} ORDER BY stored_at, partner",
                [message_id],
            ).fetchall()
        return [Archived(r[0], r[1], Kind(r[2]), r[3], r[4], bytes(r[5]), r[6]) for r in rows]

    def recent_documents(self, limit: int, chunk: int = 500) -> Iterator[tuple[str, bytes]]:
        """(message id, body) of the latest `limit` documents sent, newest first, read a chunk
        at a time (the lock is not held between chunks): what a search by name looks through
        (the names are in the documents, not in the audit trail)."""
        for offset in range(0, limit, chunk):
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT message_id, body FROM {self._table} WHERE kind = {self._ph}"
                    f" ORDER BY stored_at DESC, message_id LIMIT {int(min(chunk, limit - offset))}"
                    f" OFFSET {int(offset)}",
                    [Kind.DOCUMENT.value],
                ).fetchall()
            yield from ((r[0], bytes(r[1])) for r in rows)
            if len(rows) < chunk:
                return

    def get(self, partner: str, message_id: str, kind: Kind = Kind.DOCUMENT) -> Archived | None:
        """The latest row of that kind (a partner may answer several times: retries)."""
        found = [a for a in self.for_message(message_id) if a.partner == partner and a.kind is kind]
        return found[-1] if found else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
