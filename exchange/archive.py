"""The documents we sent each partner and the receipts they sent back, kept beside the audit
trail (same database) so operators can see and download exactly what was exchanged.

The audit trail holds each document's SHA-256 only; the queues hold the bodies only until
they are delivered. Rows are written by the workers once per batch (one executemany), never
once per message. A row is never changed: a second copy of the same content is ignored.
Bodies are stored zlib-compressed against a preset dictionary per partner and kind (see
DocumentArchive).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from exchange.audit.compact import digest, hex_of
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


_LEVEL = 6
_DICT_MAX = 32 * 1024
"""zlib's window: a preset dictionary longer than this is not used."""
OLD_TABLE = "document_archive"
TABLE = "archived_documents"
DICTS = "archive_dictionaries"
_KIND_CODE = {Kind.DOCUMENT: 0, Kind.RECEIPT: 1}
_OF_KIND = {0: Kind.DOCUMENT, 1: Kind.RECEIPT}


class DocumentArchive:
    """SQLite or PostgreSQL, chosen by the audit URL; safe to share between threads.

    Each (partner, kind, content type) gets a preset dictionary, once: the first body of
    that kind archived, kept (itself compressed) in `archive_dictionaries` and never changed.
    Every later body is zlib-compressed against it: a partner's documents share their
    template, which a dictionary carries once instead of in every row (a certificate of
    7.9 KB: 1.8 KB compressed alone, about 0.25 KB against the dictionary). Rows name their
    dictionary (`dict`, 0 for none). Archives of the previous table (`document_archive`,
    text digests, each body compressed alone or not at all) stay readable and purgeable.
    """

    def __init__(self, url: str | None = None):
        db = open_database(url)
        self._lock = threading.Lock()
        self._conn: Any = db.conn
        self._ph = db.placeholder
        self._postgres = db.postgres
        self._table = f"{db.prefix}{TABLE}"
        self._dicts = f"{db.prefix}{DICTS}"
        self._old = f"{db.prefix}{OLD_TABLE}"
        blob, rowid = ("BYTEA", "") if db.postgres else ("BLOB", " WITHOUT ROWID")
        serial = "BIGSERIAL" if db.postgres else "INTEGER"
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self._dicts} (id {serial} PRIMARY KEY, partner TEXT NOT NULL,"
            f" kind SMALLINT NOT NULL, content_type TEXT NOT NULL, body {blob} NOT NULL,"
            " UNIQUE (partner, kind, content_type))"
        )
        columns = (
            "stored_us BIGINT NOT NULL, dict BIGINT NOT NULL, message_id TEXT NOT NULL,"
            f" partner TEXT NOT NULL, kind SMALLINT NOT NULL, sha256 {blob} NOT NULL, body {blob} NOT NULL"
        )
        if db.postgres:  # the key holds 8 bytes of the digest (a row's own has all 32): a third smaller
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {self._table} ({columns})")
            self._conn.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS archived_documents_key ON {self._table}"
                " (message_id, partner, kind, substring(sha256 from 1 for 8))"
            )
        else:
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} ({columns},"
                f" PRIMARY KEY (message_id, partner, kind, sha256)){rowid}"
            )
        self._dict_cache: dict[int, tuple[str, bytes]] = {}
        self._dict_ids: dict[tuple[str, int, str], int] = {}
        self._has_old = self._old_exists()
        if self._has_old:
            self._add_encoding_column(db.postgres)

    def _old_exists(self) -> bool:
        if self._postgres:
            schema, _, name = self._old.partition(".")
            row = self._conn.execute(
                "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = %s", (schema, name)
            ).fetchone()
        else:
            row = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (self._old,)
            ).fetchone()
        return row is not None

    def _add_encoding_column(self, postgres: bool) -> None:
        """Archives made before compression: the column appears, their rows say `identity`."""
        add = f"ALTER TABLE {self._old} ADD COLUMN"
        if postgres:
            self._conn.execute(f"{add} IF NOT EXISTS encoding TEXT NOT NULL DEFAULT 'identity'")
            return
        columns = {row[1] for row in self._conn.execute(f"PRAGMA table_info({self._old})")}
        if "encoding" not in columns:
            try:
                self._conn.execute(f"{add} encoding TEXT NOT NULL DEFAULT 'identity'")
            except Exception as exc:  # another process added it meanwhile
                if "duplicate column" not in str(exc):
                    raise

    # -- dictionaries --------------------------------------------------------------

    def _dictionary(self, partner: str, kind: Kind, content_type: str, sample: bytes) -> tuple[int, bytes]:
        """The (id, preset dictionary) of this kind of body; `sample` becomes it if none yet."""
        key = (partner, _KIND_CODE[kind], content_type)
        found = self._dict_ids.get(key)
        if found is not None:
            return found, self._dict_cache[found][1]
        p = self._ph
        self._conn.execute(
            f"INSERT INTO {self._dicts} (partner, kind, content_type, body) VALUES ({p}, {p}, {p}, {p})"
            " ON CONFLICT (partner, kind, content_type) DO NOTHING",
            (*key, zlib.compress(sample[-_DICT_MAX:], 9)),
        )
        row = self._conn.execute(
            f"SELECT id, body FROM {self._dicts} WHERE partner = {p} AND kind = {p} AND content_type = {p}",
            key,
        ).fetchone()
        ident = int(row[0])
        self._dict_cache[ident] = (content_type, zlib.decompress(bytes(row[1])))
        self._dict_ids[key] = ident
        return ident, self._dict_cache[ident][1]

    def _dict_by_id(self, ident: int) -> tuple[str, bytes]:
        found = self._dict_cache.get(ident)
        if found is None:
            row = self._conn.execute(
                f"SELECT content_type, body FROM {self._dicts} WHERE id = {self._ph}", (ident,)
            ).fetchone()
            found = (str(row[0]), zlib.decompress(bytes(row[1])))
            self._dict_cache[ident] = found
        return found

    def _decode(self, r: tuple[Any, ...]) -> Archived:
        """(message_id, partner, kind, sha256, stored_us, dict, body) as an Archived."""
        content_type, zdict = self._dict_by_id(int(r[5]))
        d = zlib.decompressobj(zdict=zdict)
        body = d.decompress(bytes(r[6])) + d.flush()
        stored = format_time(datetime.fromtimestamp(int(r[4]) / 1e6, UTC))
        return Archived(r[1], r[0], _OF_KIND[int(r[2])], hex_of(r[3]) or "", content_type, body, stored)

    # -- writing and reading ---------------------------------------------------------

    def put_many(self, rows: Iterable[Archived]) -> None:
        """One transaction, one executemany; durable on return."""
        items = list(rows)
        if not items:
            return
        now = time.time_ns() // 1000
        p = self._ph
        sql = (
            f"INSERT INTO {self._table} (message_id, partner, kind, sha256, stored_us, dict, body)"
            f" VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING"
        )
        with self._lock:
            values = []
            for r in items:
                ident, zdict = self._dictionary(r.partner, r.kind, r.content_type, r.body)
                c = zlib.compressobj(_LEVEL, zdict=zdict)
                body = c.compress(r.body) + c.flush()
                values.append(
                    (r.message_id, r.partner, _KIND_CODE[r.kind], digest(r.sha256), now, ident, body)
                )
            execute_many(self._conn, sql, values)

    def for_message(self, message_id: str) -> list[Archived]:
        """Everything kept for a message id, every partner, oldest first."""
        with self._lock:
            found = [
                self._decode(r)
                for r in self._conn.execute(
                    f"SELECT {_COLUMNS} FROM {self._table} WHERE message_id = {self._ph}", [message_id]
                ).fetchall()
            ]
            if self._has_old:
                rows = self._conn.execute(
                    "SELECT partner, message_id, kind, sha256, content_type, body, stored_at, encoding"
                    f" FROM {self._old} WHERE message_id = {self._ph}",
                    [message_id],
                ).fetchall()
                found += [Archived(r[0], r[1], Kind(r[2]), r[3], r[4], _body(r[5], r[7]), r[6]) for r in rows]
        return sorted(found, key=lambda a: (a.stored_at, a.partner))

    def recent_documents(self, limit: int, chunk: int = 500) -> Iterator[tuple[str, bytes]]:
        """(message id, body) of the latest `limit` documents sent, newest first, read a chunk
        at a time (the lock is not held between chunks): what a search by name looks through
        (the names are in the documents, not in the audit trail). Rows of the previous table
        come after the new one's (they are older)."""
        given = 0
        for offset in range(0, limit, chunk):
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM {self._table} WHERE kind = 0"
                    f" ORDER BY stored_us DESC, message_id LIMIT {int(min(chunk, limit - offset))}"
                    f" OFFSET {int(offset)}"
                ).fetchall()
                decoded = [self._decode(r) for r in rows]
            given += len(decoded)
            yield from ((a.message_id, a.body) for a in decoded)
            if len(rows) < chunk:
                break
        if not self._has_old or given >= limit:
            return
        for offset in range(0, limit - given, chunk):
            with self._lock:
                old = self._conn.execute(
                    f"SELECT message_id, body, encoding FROM {self._old} WHERE kind = {self._ph}"
                    f" ORDER BY stored_at DESC, message_id LIMIT {int(min(chunk, limit - given - offset))}"
                    f" OFFSET {int(offset)}",
                    [Kind.DOCUMENT.value],
                ).fetchall()
            yield from ((r[0], _body(r[1], r[2])) for r in old)
            if len(old) < chunk:
                return

    def get(self, partner: str, message_id: str, kind: Kind = Kind.DOCUMENT) -> Archived | None:
        """The latest row of that kind (a partner may answer several times: retries)."""
        found = [a for a in self.for_message(message_id) if a.partner == partner and a.kind is kind]
        return found[-1] if found else None

    def purge(self, before: datetime, partner: str | None = None) -> int:
        """Retention: remove what was stored before `before` (for one partner if given);
        returns how many rows went. Dictionaries stay: later rows may use them."""
        p = self._ph
        us = int(before.timestamp() * 1_000_000)
        only = "" if partner is None else f" AND partner = {p}"
        with self._lock:
            removed = int(
                self._conn.execute(
                    f"DELETE FROM {self._table} WHERE stored_us < {p}{only}",
                    [us] if partner is None else [us, partner],
                ).rowcount
            )
            if self._has_old:
                removed += int(
                    self._conn.execute(
                        f"DELETE FROM {self._old} WHERE stored_at < {p}{only}",
                        [format_time(before)] if partner is None else [format_time(before), partner],
                    ).rowcount
                )
            return removed

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_COLUMNS = "message_id, partner, kind, sha256, stored_us, dict, body"


def _body(stored: Any, encoding: str) -> bytes:
    return zlib.decompress(stored) if encoding == "zlib" else bytes(stored)
