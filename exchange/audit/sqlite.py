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

from exchange.audit import compact
from exchange.audit.chain import GENESIS, ChainRow, Prepared, link
from exchange.audit.compact import LOG, META, NAMES, OLD_TABLE, REFS, Encoder, decode, digest
from exchange.audit.entry import format_time
from exchange.audit.errors import StoreUnavailable
from exchange.audit.store import AuditStore, Seal

TABLE = LOG
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {NAMES} (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS {REFS} (id INTEGER PRIMARY KEY, message_id TEXT, record_id TEXT);
CREATE INDEX IF NOT EXISTS {REFS}_message ON {REFS} (message_id);
CREATE INDEX IF NOT EXISTS {REFS}_record ON {REFS} (record_id);
CREATE TABLE IF NOT EXISTS {META} (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS {LOG} (
    seq INTEGER PRIMARY KEY,
    t INTEGER NOT NULL,
    ev INTEGER NOT NULL,
    ref INTEGER,
    partner INTEGER,
    actor INTEGER NOT NULL,
    dref INTEGER,
    details TEXT,
    doc BLOB,
    prev BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS {LOG}_ref ON {LOG} (ref);
CREATE INDEX IF NOT EXISTS {LOG}_time ON {LOG} (t);
CREATE TRIGGER IF NOT EXISTS {LOG}_no_update BEFORE UPDATE ON {LOG}
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS {LOG}_no_delete BEFORE DELETE ON {LOG}
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS {NAMES}_no_update BEFORE UPDATE ON {NAMES}
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS {NAMES}_no_delete BEFORE DELETE ON {NAMES}
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS {REFS}_no_update BEFORE UPDATE ON {REFS}
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
"""
START_TABLE = "audit_chain_start"
_NO_DELETE = f"""CREATE TRIGGER {LOG}_no_delete BEFORE DELETE ON {LOG}
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END"""
_INSERT = f"INSERT INTO {LOG} ({', '.join(compact.COLUMNS)}) VALUES ({','.join('?' * len(compact.COLUMNS))})"
_SELECT = compact.select_sql()
_HEAD = f"SELECT seq, hash FROM {LOG} ORDER BY seq DESC LIMIT 1"
_OLD_COLUMNS = "seq, time, event, message_id, record_id, partner, actor, details, doc_sha256, prev_hash, hash"


def old_format_message(where: str, url: str) -> str:
    return (
        f"{where} holds an audit trail in the previous text format (table {OLD_TABLE}): run"
        f" `exchange audit migrate --audit {url}` once to convert it (the hashes and sealed"
        " checkpoints stay valid); until then this version neither reads nor appends to it"
    )


class SqliteStore(AuditStore):
    def __init__(
        self,
        path: Path | None,
        *,
        batch_size: int = 1000,
        create: bool = True,
        busy_timeout: float = 60.0,
        migrating: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self._encoder = Encoder("", "?")
        self.path = path
        self._busy_timeout = busy_timeout
        where = "in-memory database" if path is None else str(path)
        if path is not None and not create and not path.is_file():
            raise StoreUnavailable(f"no audit store at {path}")
        try:
            self._conn = self._connect(create=create)
            tables = self._tables()
            if OLD_TABLE in tables and not migrating:
                self._conn.close()
                raise StoreUnavailable(old_format_message(where, self.describe()))
            if create:
                # One write transaction, so processes opening a new file at once agree.
                self._conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            elif TABLE not in tables:
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

    def _tables(self) -> set[str]:
        return {str(r[0]) for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def describe(self) -> str:
        return "sqlite://" if self.path is None else f"sqlite:///{self.path.resolve()}"

    def _write(self, batch: list[Prepared]) -> None:
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")  # the write lock, before the head is read
            try:
                head = self._head()
                rows = link(batch, *(head or (0, GENESIS)))
                enc = self._encoder
                enc.start(c)
                c.executemany(_INSERT, [enc.encode(c, r, p.us) for p, r in zip(batch, rows, strict=True)])
                c.execute("COMMIT")
            except BaseException:
                self._encoder = Encoder("", "?")  # ids it learnt in this transaction are gone
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise StoreUnavailable(f"cannot write audit store {self.describe()}: {e}") from e

    def _purge(self, before: str, seal: Seal | None) -> tuple[int, int]:
        """One transaction: the start recorded, the entries before it deleted (the trigger
        that refuses deletes lifted for that statement only, inside the transaction), then
        the refs no kept entry uses, with the generation bumped so writers forget them."""
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {START_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1),"
                " seq INTEGER NOT NULL, prev_hash TEXT NOT NULL, purged_before TEXT NOT NULL, seal TEXT)"
            )
            if "seal" not in {r[1] for r in c.execute(f"PRAGMA table_info({START_TABLE})")}:
                c.execute(f"ALTER TABLE {START_TABLE} ADD COLUMN seal TEXT")
            first = c.execute(
                f"SELECT seq, prev FROM {LOG} WHERE t >= ? ORDER BY seq LIMIT 1", (compact.us_of(before),)
            ).fetchone()
            if first is None:  # everything is older: the head is kept, so appends link to it
                first = c.execute(f"SELECT seq, prev FROM {LOG} ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev_hash = (int(first[0]), compact.hex_of(first[1]) or "") if first else (1, GENESIS)
            c.execute(f"DROP TRIGGER IF EXISTS {LOG}_no_delete")
            removed = c.execute(f"DELETE FROM {LOG} WHERE seq < ?", (seq,)).rowcount
            c.execute(_NO_DELETE)
            c.execute(f"DELETE FROM {REFS} WHERE NOT EXISTS (SELECT 1 FROM {LOG} e WHERE e.ref = {REFS}.id)")
            c.execute(
                f"INSERT INTO {META} VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET generation = generation + 1"
            )
            c.execute(
                f"INSERT INTO {START_TABLE} (id, seq, prev_hash, purged_before, seal) VALUES (1, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, prev_hash = excluded.prev_hash,"
                " purged_before = excluded.purged_before, seal = excluded.seal",
                (seq, prev_hash, before, None if seal is None else seal(seq, prev_hash, before)),
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

    def _chain_start_seal(self) -> str | None:
        try:
            row = self._conn.execute(f"SELECT seal FROM {START_TABLE} WHERE id = 1").fetchone()
        except sqlite3.OperationalError:  # never purged, or purged before starts were signed
            return None
        return None if row is None or row[0] is None else str(row[0])

    def _head(self) -> tuple[int, str] | None:
        row = self._conn.execute(_HEAD).fetchone()
        return None if row is None else (int(row[0]), compact.hex_of(row[1]) or "")

    def _stream(self, sql: str, args: tuple[object, ...] = ()) -> Generator[ChainRow]:
        """Rows from a connection of its own: one snapshot, and the store stays free to write
        while a long verify or export runs."""
        conn = self._conn if self.path is None else self._connect(create=False)
        try:
            for row in conn.execute(sql, args):
                yield decode(row)
        finally:
            if conn is not self._conn:
                conn.close()

    def _iter_rows(self) -> Generator[ChainRow]:
        return self._stream(f"{_SELECT} ORDER BY e.seq")

    def _find_by_hash(self, entry_hash: str) -> ChainRow | None:
        row = self._conn.execute(f"{_SELECT} WHERE e.hash = ?", (digest(entry_hash),)).fetchone()
        return None if row is None else decode(row)

    def _trace_rows(self, id: str) -> list[ChainRow]:
        sql = (
            f"{_SELECT} WHERE e.ref IN (SELECT id FROM {REFS} WHERE message_id = ?"
            f" UNION SELECT id FROM {REFS} WHERE record_id = ?) ORDER BY e.seq"
        )
        return [decode(row) for row in self._conn.execute(sql, (id, id))]

    def _where(self, since: datetime | None, until: datetime | None) -> tuple[list[str], list[object]]:
        where: list[str] = []
        args: list[object] = []
        if since is not None:
            where.append("e.t >= ?")
            args.append(compact.us_of(format_time(since)))
        if until is not None:
            where.append("e.t < ?")
            args.append(compact.us_of(format_time(until)))
        return where, args

    def _export_rows(
        self, since: datetime | None, until: datetime | None, partner: str | None
    ) -> Generator[ChainRow]:
        where, args = self._where(since, until)
        if partner is not None:
            where.append("pa.name = ?")
            args.append(partner)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY e.seq"
        return self._stream(sql, tuple(args))

    def _scan_rows(
        self, since: datetime | None, until: datetime | None, events: tuple[str, ...] | None
    ) -> Generator[ChainRow]:
        where, args = self._where(since, until)
        if events is not None:
            where.append(f"ev.name IN ({', '.join('?' * len(events))})")
            args.extend(events)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY e.seq"
        return self._stream(sql, tuple(args))

    def _last_event(self, message_id: str, partner: str | None) -> str | None:
        sql = (
            f"SELECT n.name FROM {LOG} e JOIN {NAMES} n ON n.id = e.ev"
            f" WHERE e.ref IN (SELECT id FROM {REFS} WHERE message_id = ?)"
        )
        args: tuple[str, ...] = (message_id,)
        if partner is not None:
            sql += f" AND e.partner = (SELECT id FROM {NAMES} WHERE name = ?)"
            args = (message_id, partner)
        row = self._conn.execute(sql + " ORDER BY e.seq DESC LIMIT 1", args).fetchone()
        return None if row is None else str(row[0])

    # -- the previous format -------------------------------------------------------

    def _insert_rows(self, rows: list[ChainRow]) -> None:
        """Rows as they are, hashes and all (migration; tests forging entries)."""
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            self._encoder.start(c)
            c.executemany(_INSERT, [self._encoder.encode(c, r) for r in rows])
            c.execute("COMMIT")
        except BaseException:
            self._encoder = Encoder("", "?")
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def _old_rows(self) -> Generator[ChainRow]:
        conn = self._conn if self.path is None else self._connect(create=False)
        try:
            for row in conn.execute(f"SELECT {_OLD_COLUMNS} FROM {OLD_TABLE} ORDER BY seq"):
                yield ChainRow(*row)
        finally:
            if conn is not self._conn:
                conn.close()

    def _has_old(self) -> bool:
        return OLD_TABLE in self._tables()

    def _drop_old(self) -> None:
        self._conn.execute(f"DROP TABLE IF EXISTS {OLD_TABLE}")

    def _close(self) -> None:
        self._conn.close()
