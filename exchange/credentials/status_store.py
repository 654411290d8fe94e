"""The status lists, in the audit database (same URL, tables of their own):

- credential_status_entries: every credential version issued, its subject (the
  certificate, as `<kind>:<record id>`) and its place in the lists (list number, index);
- credential_status_lists: per purpose and list number, the bitstring, a version that
  grows with every change, and the last signed publication of it (JSON and vc+jwt);
- credential_status_counter: the next position to allocate.

Allocation and bit changes happen in one transaction per batch (SQLite: BEGIN IMMEDIATE;
PostgreSQL: rows locked FOR UPDATE), so several workers and hosts never hand out the same
index or lose a flip. Publication stores a list only if its version did not move since
it was read, so a stale list never replaces a newer one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exchange.audit.entry import format_time
from exchange.credentials import bitstring
from exchange.credentials.standing import Standing
from exchange.db import open_database

_TABLES = """
CREATE TABLE IF NOT EXISTS {p}credential_status_entries (
    credential_id TEXT PRIMARY KEY, subject TEXT NOT NULL, list_number INTEGER NOT NULL,
    list_index INTEGER NOT NULL, issued_at TEXT NOT NULL, UNIQUE (list_number, list_index));
CREATE INDEX IF NOT EXISTS credential_status_subject ON {p}credential_status_entries (subject);
CREATE TABLE IF NOT EXISTS {p}credential_status_lists (
    purpose TEXT NOT NULL, list_number INTEGER NOT NULL, bits {blob} NOT NULL, version INTEGER NOT NULL,
    published_version INTEGER NOT NULL, credential TEXT, jwt TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (purpose, list_number));
CREATE TABLE IF NOT EXISTS {p}credential_status_counter (name TEXT PRIMARY KEY, next BIGINT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Placement:
    list_number: int
    index: int
    issued_at: str
    """When this credential id was first issued (UTC, the audit trail's form)."""


@dataclass(frozen=True, slots=True)
class Unpublished:
    purpose: str
    list_number: int
    version: int
    bits: bytes


@dataclass(frozen=True, slots=True)
class StatusRequest:
    credential_id: str
    subject: str
    standing: Standing


class StatusStore:
    """SQLite or PostgreSQL, chosen by the audit URL; safe to share between threads."""

    def __init__(self, url: str | None = None):
        db = open_database(url)
        self._lock = threading.Lock()
        self._conn: Any = db.conn
        self._pg = db.postgres
        self._p = db.prefix
        for statement in _TABLES.format(p=self._p, blob="BYTEA" if self._pg else "BLOB").split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def close(self) -> None:
        self._conn.close()

    def _sql(self, sql: str) -> str:
        sql = sql.format(p=self._p, lock=" FOR UPDATE" if self._pg else "")
        return sql.replace("?", "%s") if self._pg else sql

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            if isinstance(self._conn, sqlite3.Connection):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            else:
                with self._conn.transaction():
                    yield self._conn

    # -- issuing ----------------------------------------------------------------------

    def place(self, requests: Sequence[StatusRequest]) -> dict[str, Placement]:
        """Each credential's place in the lists (allocated on first sight, kept after), and
        every subject's bits set to its latest standing in the batch: all its versions."""
        now = format_time(datetime.now(UTC))
        with self._transaction() as conn:
            placed = self._existing(conn, [r.credential_id for r in requests])
            new = [r for r in dict.fromkeys(r.credential_id for r in requests) if r not in placed]
            if new:
                start = self._reserve(conn, len(new))
                rows = []
                for offset, cid in enumerate(new):
                    position = start + offset
                    number, index = (
                        position // bitstring.SIZE + 1,
                        bitstring.scrambled(position % bitstring.SIZE),
                    )
                    placed[cid] = Placement(number, index, now)
                    subject = next(r.subject for r in requests if r.credential_id == cid)
                    rows.append((cid, subject, number, index, now))
                _executemany(
                    conn,
                    self._sql(
                        "INSERT INTO {p}credential_status_entries "
                        "(credential_id, subject, list_number, list_index, issued_at) VALUES (?, ?, ?, ?, ?)"
                    ),
                    rows,
                )
            latest = {r.subject: r.standing for r in requests}
            self._apply(conn, latest, {p.list_number for p in placed.values()}, now)
        return placed

    def _existing(self, conn: Any, ids: list[str]) -> dict[str, Placement]:
        out: dict[str, Placement] = {}
        sql = self._sql(
            "SELECT credential_id, list_number, list_index, issued_at FROM {p}credential_status_entries "
            "WHERE credential_id = ?"
        )
        for cid in dict.fromkeys(ids):
            row = conn.execute(sql, (cid,)).fetchone()
            if row is not None:
                out[row[0]] = Placement(int(row[1]), int(row[2]), str(row[3]))
        return out

    def _reserve(self, conn: Any, count: int) -> int:
        """`count` consecutive positions; the first. The row is made once (ON CONFLICT: two
        first workers cannot both make it) and locked while this transaction lasts."""
        conn.execute(
            self._sql(
                "INSERT INTO {p}credential_status_counter (name, next) VALUES ('position', 0) "
                "ON CONFLICT (name) DO NOTHING"
            )
        )
        row = conn.execute(
            self._sql("SELECT next FROM {p}credential_status_counter WHERE name = 'position'{lock}")
        ).fetchone()
        conn.execute(
            self._sql("UPDATE {p}credential_status_counter SET next = ? WHERE name = 'position'"),
            (int(row[0]) + count,),
        )
        return int(row[0])

    def _apply(self, conn: Any, latest: dict[str, Standing], numbers: set[int], now: str) -> None:
        targets: list[tuple[int, int, Standing]] = []
        sql = self._sql("SELECT list_number, list_index FROM {p}credential_status_entries WHERE subject = ?")
        for subject, standing in latest.items():
            for number, index in conn.execute(sql, (subject,)).fetchall():
                targets.append((int(number), int(index), standing))
                numbers.add(int(number))
        lists = {
            (purpose, number): self._bits(conn, purpose, number, now)
            for number in numbers
            for purpose in bitstring.PURPOSES
        }
        changed: set[tuple[str, int]] = set()
        for number, index, standing in targets:
            if standing is Standing.REVOKED and bitstring.set_bit(lists["revocation", number], index, True):
                changed.add(("revocation", number))
            if standing is not Standing.REVOKED:
                suspended = standing is Standing.SUSPENDED
                if bitstring.set_bit(lists["suspension", number], index, suspended):
                    changed.add(("suspension", number))
        for purpose, number in changed:
            conn.execute(
                self._sql(
                    "UPDATE {p}credential_status_lists SET bits = ?, version = version + 1, updated_at = ? "
                    "WHERE purpose = ? AND list_number = ?"
                ),
                (bytes(lists[purpose, number]), now, purpose, number),
            )

    def _bits(self, conn: Any, purpose: str, number: int, now: str) -> bytearray:
        conn.execute(
            self._sql(
                "INSERT INTO {p}credential_status_lists (purpose, list_number, bits, version, "
                "published_version, updated_at) VALUES (?, ?, ?, 1, 0, ?) "
                "ON CONFLICT (purpose, list_number) DO NOTHING"
            ),
            (purpose, number, bytes(bitstring.BYTES), now),
        )
        row = conn.execute(
            self._sql(
                "SELECT bits FROM {p}credential_status_lists WHERE purpose = ? AND list_number = ?{lock}"
            ),
            (purpose, number),
        ).fetchone()
        return bytearray(row[0])

    # -- publishing -------------------------------------------------------------------

    def unpublished(self) -> list[Unpublished]:
        """Lists changed since their last publication."""
        with self._lock:
            rows = self._conn.execute(
                self._sql(
                    "SELECT purpose, list_number, version, bits FROM {p}credential_status_lists "
                    "WHERE published_version <> version ORDER BY purpose, list_number"
                )
            ).fetchall()
        return [Unpublished(str(r[0]), int(r[1]), int(r[2]), bytes(r[3])) for r in rows]

    def publish(self, item: Unpublished, credential: str, jwt: str | None) -> bool:
        """Store a signed publication of `item`; False when the list moved on meanwhile."""
        with self._transaction() as conn:
            cur = conn.execute(
                self._sql(
                    "UPDATE {p}credential_status_lists SET credential = ?, jwt = ?, published_version = ? "
                    "WHERE purpose = ? AND list_number = ? AND version = ?"
                ),
                (credential, jwt, item.version, item.purpose, item.list_number, item.version),
            )
            return bool(cur.rowcount)

    def published(self, purpose: str, number: int) -> tuple[str, str | None] | None:
        """(credential JSON, vc+jwt or None) as last published; None if never."""
        with self._lock:
            row = self._conn.execute(
                self._sql(
                    "SELECT credential, jwt FROM {p}credential_status_lists "
                    "WHERE purpose = ? AND list_number = ? AND credential IS NOT NULL"
                ),
                (purpose, number),
            ).fetchone()
        return None if row is None else (str(row[0]), None if row[1] is None else str(row[1]))

    def all_published(self) -> list[tuple[str, int, str, str | None]]:
        with self._lock:
            rows = self._conn.execute(
                self._sql(
                    "SELECT purpose, list_number, credential, jwt FROM {p}credential_status_lists "
                    "WHERE credential IS NOT NULL ORDER BY purpose, list_number"
                )
            ).fetchall()
        return [(str(r[0]), int(r[1]), str(r[2]), None if r[3] is None else str(r[3])) for r in rows]


def _executemany(conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if isinstance(conn, sqlite3.Connection):
        conn.executemany(sql, rows)
    else:
        with conn.cursor() as cur:
            cur.executemany(sql, rows)
