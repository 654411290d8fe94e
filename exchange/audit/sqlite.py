"""SQLite back end: the embedded default, one file in WAL mode.

Several processes may write the same file: each batch runs in `BEGIN IMMEDIATE`, which
takes SQLite's single write lock before the head is read, so batches from different
writers are chained one after another, never across each other. `synchronous=FULL`
makes a committed batch survive power loss, which is what `flush()` promises.
SQLite's lock is not fair: under sustained contention a waiting writer retries with
back-off (up to 100 ms apart), so for many busy writers use PostgreSQL.
Triggers refuse UPDATE and DELETE; anyone with the file can drop them, which is why
the chain and the checkpoint exist.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from exchange.audit.chain import GENESIS, ChainRow, Prepared, link
from exchange.audit.entry import format_time
from exchange.audit.errors import StoreUnavailable
from exchange.audit.store import AuditStore

TABLE = "audit_entries"
_COLUMNS = "seq, time, event, message_id, record_id, partner, actor, details, doc_sha256, prev_hash, hash"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    event TEXT NOT NULL,
    message_id TEXT,
    record_id TEXT,
    partner TEXT,
    actor TEXT NOT NULL,
    details TEXT NOT NULL,
    doc_sha256 TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_message ON {TABLE} (message_id);
CREATE INDEX IF NOT EXISTS {TABLE}_record ON {TABLE} (record_id);
CREATE INDEX IF NOT EXISTS {TABLE}_time ON {TABLE} (time);
CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE}
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE}
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
"""
START_TABLE = "audit_chain_start"
_NO_DELETE = f"""CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END"""
_INSERT = f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
_SELECT = f"SELECT {_COLUMNS} FROM {TABLE}"
_HEAD = f"SELECT seq, hash FROM {TABLE} ORDER BY seq DESC LIMIT 1"


class SqliteStore(AuditStore):
    def __init__(
        self,
        path: Path | None,
        *,
        batch_size: int = 1000,
        create: bool = True,
        busy_timeout: float = 60.0,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.path = path
        self._busy_timeout = busy_timeout
        where = "in-memory database" if path is None else str(path)
        if path is not None and not create and not path.is_file():
            raise StoreUnavailable(f"no audit store at {path}")
        try:
            self._conn = self._connect(create=create)
            if create:
                # One write transaction, so processes opening a new file at once agree.
                self._conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            elif (
                self._conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)
                ).fetchone()
                is None
            ):
                self._conn.close()
                raise StoreUnavailable(f"{where} holds no audit trail")
        except sqlite3.Error as e:
            raise StoreUnavailable(f"cannot open SQLite audit store {where}: {e}") from e

    def _connect(self, *, create: bool = True) -> sqlite3.Connection:
        if self.path is None:
            target, uri = ":memory:", False
        else:
            mode = "rwc" if create else "rw"
            target, uri = f"file:{quote(str(self.path))}?mode={mode}", True
        conn = sqlite3.connect(
            target,
            uri=uri,
            timeout=self._busy_timeout,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # AuditStore serialises use with its own lock
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def describe(self) -> str:
        return "sqlite://" if self.path is None else f"sqlite:///{self.path.resolve()}"

    def _write(self, batch: list[Prepared]) -> None:
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")  # the write lock, before the head is read
            try:
                head = c.execute(_HEAD).fetchone()
                rows = link(batch, *(head or (0, GENESIS)))
                c.executemany(_INSERT, rows)
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise StoreUnavailable(f"cannot write audit store {self.describe()}: {e}") from e

    def _purge(self, before: str) -> tuple[int, int]:
        """One transaction: the start recorded, the entries before it deleted (the trigger
        that refuses deletes lifted for that statement only, inside the transaction)."""
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {START_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1),"
                " seq INTEGER NOT NULL, prev_hash TEXT NOT NULL, purged_before TEXT NOT NULL)"
            )
            first = c.execute(
                f"SELECT seq, prev_hash FROM {TABLE} WHERE time >= ? ORDER BY seq LIMIT 1", (before,)
            ).fetchone()
            if first is None:  # everything is older: the head is kept, so appends link to it
                first = c.execute(
                    f"SELECT seq, prev_hash FROM {TABLE} ORDER BY seq DESC LIMIT 1"
                ).fetchone() or (1, GENESIS)
            seq, prev_hash = int(first[0]), str(first[1])
            c.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
            removed = c.execute(f"DELETE FROM {TABLE} WHERE seq < ?", (seq,)).rowcount
            c.execute(_NO_DELETE)
            c.execute(
                f"INSERT INTO {START_TABLE} VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " seq = excluded.seq, prev_hash = excluded.prev_hash, purged_before = excluded.purged_before",
                (seq, prev_hash, before),
            )
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return removed, seq

    def _chain_start(self) -> tuple[int, str] | None:
        try:
            row = self._conn.execute(f"SELECT seq, prev_hash FROM {START_TABLE} WHERE id = 1").fetchone()
        except sqlite3.OperationalError:  # never purged: no such table
            return None
        return None if row is None else (int(row[0]), str(row[1]))

    def _head(self) -> tuple[int, str] | None:
        row = self._conn.execute(_HEAD).fetchone()
        return None if row is None else (row[0], row[1])

    def _stream(self, sql: str, args: tuple[str, ...] = ()) -> Generator[ChainRow]:
        """Rows from a connection of its own: one snapshot, and the store stays free to write
        while a long verify or export runs."""
        conn = self._conn if self.path is None else self._connect(create=False)
        try:
            for row in conn.execute(sql, args):
                yield ChainRow(*row)
        finally:
            if conn is not self._conn:
                conn.close()

    def _iter_rows(self) -> Generator[ChainRow]:
        return self._stream(f"{_SELECT} ORDER BY seq")

    def _find_by_hash(self, entry_hash: str) -> ChainRow | None:
        row = self._conn.execute(f"{_SELECT} WHERE hash = ?", (entry_hash,)).fetchone()
        return None if row is None else ChainRow(*row)

    def _trace_rows(self, id: str) -> list[ChainRow]:
        sql = f"{_SELECT} WHERE message_id = ? OR record_id = ? ORDER BY seq"
        return [ChainRow(*row) for row in self._conn.execute(sql, (id, id))]

    def _export_rows(
        self, since: datetime | None, until: datetime | None, partner: str | None
    ) -> Generator[ChainRow]:
        where, args = [], []
        if since is not None:
            where.append("time >= ?")
            args.append(format_time(since))
        if until is not None:
            where.append("time < ?")
            args.append(format_time(until))
        if partner is not None:
            where.append("partner = ?")
            args.append(partner)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return self._stream(sql, tuple(args))

    def _scan_rows(
        self, since: datetime | None, until: datetime | None, events: tuple[str, ...] | None
    ) -> Generator[ChainRow]:
        where, args = [], []
        if since is not None:
            where.append("time >= ?")
            args.append(format_time(since))
        if until is not None:
            where.append("time < ?")
            args.append(format_time(until))
        if events is not None:
            where.append(f"event IN ({', '.join('?' * len(events))})")
            args.extend(events)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return self._stream(sql, tuple(args))

    def _last_event(self, message_id: str, partner: str | None) -> str | None:
        args: tuple[str, ...]
        if partner is None:
            sql, args = f"SELECT event FROM {TABLE} WHERE message_id = ?", (message_id,)
        else:
            sql = f"SELECT event FROM {TABLE} WHERE message_id = ? AND partner = ?"
            args = (message_id, partner)
        row = self._conn.execute(sql + " ORDER BY seq DESC LIMIT 1", args).fetchone()
        return None if row is None else str(row[0])

    def _close(self) -> None:
        self._conn.close()
