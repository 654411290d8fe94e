"""PostgreSQL back end, for several workers on several hosts sharing one chain.

Each batch is one transaction that first takes `pg_advisory_xact_lock` (a key derived
from the table's name) and only then reads the head, so writers anywhere are chained one
batch after another; the lock goes with the commit. Rows go in with COPY. A trigger
refuses UPDATE, DELETE and TRUNCATE; a superuser or the table owner can still disable it
(tamper tests do exactly that), which is why the chain and the checkpoint exist. Give
the service's role INSERT and SELECT only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from exchange.audit.chain import GENESIS, ChainRow, Prepared, link
from exchange.audit.errors import StoreUnavailable
from exchange.audit.store import AuditStore
from exchange.audit.url import PostgresTarget
from exchange.logging import redact_url

TABLE = "audit_entries"
_COLUMNS = (
    "seq",
    "time",
    "event",
    "message_id",
    "record_id",
    "partner",
    "actor",
    "details",
    "doc_sha256",
    "prev_hash",
    "hash",
)
# Times leave the server already in the chain's text form: exact, and no tz surprises.
_TIME_TEXT = """to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE {table} (
    seq bigint PRIMARY KEY,
    time timestamptz NOT NULL,
    event text NOT NULL,
    message_id text,
    record_id text,
    partner text,
    actor text NOT NULL,
    details text NOT NULL,
    doc_sha256 text,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX ON {table} (message_id, seq);
CREATE INDEX ON {table} (record_id, seq);
CREATE INDEX ON {table} (time);
CREATE FUNCTION {refuse}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {refuse}();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {refuse}();
"""


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"exchange.audit:{schema}.{TABLE}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresStore(AuditStore):
    def __init__(
        self,
        target: PostgresTarget,
        *,
        batch_size: int = 1000,
        create: bool = True,
        connect_timeout: int = 10,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.target = target
        self._connect_timeout = connect_timeout
        self._table = sql.Identifier(target.schema, TABLE)
        self._lock_key = _lock_key(target.schema)
        select: sql.Composed = sql.SQL("SELECT seq, {time}, {rest} FROM {table}").format(
            time=sql.SQL(_TIME_TEXT),
            rest=sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMNS[2:]),
            table=self._table,
        )
        self._select = select
        self._conn = self._connect()
        try:
            self._setup(create)
        except psycopg.Error as e:
            self._conn.close()
            raise StoreUnavailable(f"cannot use audit store {self.describe()}: {e}") from e
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in self.target.conninfo:
            kwargs["connect_timeout"] = self._connect_timeout
        try:
            conn = psycopg.connect(self.target.conninfo, **kwargs)
            conn.execute("SET TIME ZONE 'UTC'")
            return conn
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot reach audit store {self.describe()}: {e}") from e

    def _setup(self, create: bool) -> None:
        table_name = f"{self.target.schema}.{TABLE}"
        if create:
            with self._conn.transaction():
                # Under the writers' lock, so processes starting together create it once.
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                if self._exists(table_name):
                    return
                self._conn.execute(
                    sql.SQL(_SCHEMA).format(
                        schema=sql.Identifier(self.target.schema),
                        table=self._table,
                        refuse=sql.Identifier(self.target.schema, "audit_entries_refuse"),
                    )
                )
        elif not self._exists(table_name):
            raise StoreUnavailable(f"{self.describe()} holds no audit trail")

    def _exists(self, table_name: str) -> bool:
        row = self._conn.execute("SELECT to_regclass(%s)", (table_name,)).fetchone()
        return row is not None and row[0] is not None

    def describe(self) -> str:
        return f"{redact_url(self.target.conninfo)} (schema {self.target.schema})"

    def _live(self) -> psycopg.Connection[Any]:
        """The connection, reopened if the server dropped it (restart, failover)."""
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def _write(self, batch: list[Prepared]) -> None:
        copy_sql = sql.SQL("COPY {table} ({cols}) FROM STDIN").format(
            table=self._table, cols=sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMNS)
        )
        try:
            conn = self._live()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                cur.execute(
                    sql.SQL("SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1").format(
                        table=self._table
                    )
                )
                head = cur.fetchone()
                rows = link(batch, *(head or (0, GENESIS)))
                with cur.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot write audit store {self.describe()}: {e}") from e

    def _query(self, query: sql.Composed, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._live().execute(query, args).fetchall()
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot read audit store {self.describe()}: {e}") from e

    def _head(self) -> tuple[int, str] | None:
        rows = self._query(
            sql.SQL("SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1").format(table=self._table)
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def _stream(self, query: sql.Composed, args: tuple[Any, ...] = ()) -> Generator[ChainRow]:
        """A server-side cursor on a connection of its own: constant memory, one snapshot."""
        try:
            with self._connect() as conn:
                conn.autocommit = False
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.read_only = True
                with conn.cursor(name="audit_stream") as cur:
                    cur.itersize = 2000
                    cur.execute(query, args)
                    for row in cur:
                        yield ChainRow(*row)
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot read audit store {self.describe()}: {e}") from e

    def _purge(self, before: str) -> tuple[int, int]:
        """One transaction under the writers' lock: the start recorded, the entries before it
        deleted with the append-only trigger lifted for this transaction only (the table
        owner's right; anyone else is refused, as for any delete)."""
        table, start = self._table, self._start_table
        try:
            conn = self._live()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                cur.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {start} (id int PRIMARY KEY CHECK (id = 1),"
                        " seq bigint NOT NULL, prev_hash text NOT NULL, purged_before text NOT NULL)"
                    ).format(start=start)
                )
                cur.execute(
                    sql.SQL(
                        "SELECT seq, prev_hash FROM {table} WHERE time >= %s ORDER BY seq LIMIT 1"
                    ).format(table=table),
                    (before,),
                )
                first = cur.fetchone()
                if first is None:  # everything is older: the head is kept, so appends link to it
                    cur.execute(
                        sql.SQL("SELECT seq, prev_hash FROM {table} ORDER BY seq DESC LIMIT 1").format(
                            table=table
                        )
                    )
                    first = cur.fetchone() or (1, GENESIS)
                seq, prev_hash = int(first[0]), str(first[1])
                cur.execute(
                    sql.SQL("ALTER TABLE {table} DISABLE TRIGGER audit_entries_append_only").format(
                        table=table
                    )
                )
                cur.execute(sql.SQL("DELETE FROM {table} WHERE seq < %s").format(table=table), (seq,))
                removed = cur.rowcount
                cur.execute(
                    sql.SQL("ALTER TABLE {table} ENABLE TRIGGER audit_entries_append_only").format(
                        table=table
                    )
                )
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {start} VALUES (1, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
                        " seq = excluded.seq, prev_hash = excluded.prev_hash,"
                        " purged_before = excluded.purged_before"
                    ).format(start=start),
                    (seq, prev_hash, before),
                )
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot purge audit store {self.describe()}: {e}") from e
        return removed, seq

    def _chain_start(self) -> tuple[int, str] | None:
        if not self._exists(f"{self.target.schema}.audit_chain_start"):
            return None
        rows = self._query(
            sql.SQL("SELECT seq, prev_hash FROM {start} WHERE id = 1").format(start=self._start_table)
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    @property
    def _start_table(self) -> sql.Identifier:
        return sql.Identifier(self.target.schema, "audit_chain_start")

    def _iter_rows(self) -> Generator[ChainRow]:
        return self._stream(self._select + sql.SQL(" ORDER BY seq"))

    def _find_by_hash(self, entry_hash: str) -> ChainRow | None:
        rows = self._query(self._select + sql.SQL(" WHERE hash = %s"), (entry_hash,))
        return ChainRow(*rows[0]) if rows else None

    def _trace_rows(self, id: str) -> list[ChainRow]:
        query = self._select + sql.SQL(" WHERE message_id = %s OR record_id = %s ORDER BY seq")
        return [ChainRow(*row) for row in self._query(query, (id, id))]

    def _export_rows(
        self, since: datetime | None, until: datetime | None, partner: str | None
    ) -> Generator[ChainRow]:
        where: list[sql.Composable] = []
        args: list[Any] = []
        if since is not None:
            where.append(sql.SQL("time >= %s"))
            args.append(since)
        if until is not None:
            where.append(sql.SQL("time < %s"))
            args.append(until)
        if partner is not None:
            where.append(sql.SQL("partner = %s"))
            args.append(partner)
        query = self._select
        if where:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
        return self._stream(query + sql.SQL(" ORDER BY seq"), tuple(args))

    def _scan_rows(
        self, since: datetime | None, until: datetime | None, events: tuple[str, ...] | None
    ) -> Generator[ChainRow]:
        where: list[sql.Composable] = []
        args: list[Any] = []
        if since is not None:
            where.append(sql.SQL("time >= %s"))
            args.append(since)
        if until is not None:
            where.append(sql.SQL("time < %s"))
            args.append(until)
        if events is not None:
            where.append(sql.SQL("event = ANY(%s)"))
            args.append(list(events))
        query = self._select
        if where:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
        return self._stream(query + sql.SQL(" ORDER BY seq"), tuple(args))

    def _last_event(self, message_id: str, partner: str | None) -> str | None:
        query = sql.SQL("SELECT event FROM {table} WHERE message_id = %s").format(table=self._table)
        args: tuple[Any, ...] = (message_id,)
        if partner is not None:
            query += sql.SQL(" AND partner = %s")
            args = (message_id, partner)
        rows = self._query(query + sql.SQL(" ORDER BY seq DESC LIMIT 1"), args)
        return None if not rows else str(rows[0][0])

    def _close(self) -> None:
        self._conn.close()
