"""PostgreSQL back end, for several workers on several hosts sharing one chain.

Each batch is one transaction that first takes `pg_advisory_xact_lock` (a key derived
from the table's name) and only then reads the head, so writers anywhere are chained one
batch after another; the lock goes with the commit. Rows go in with COPY. A trigger
refuses UPDATE, DELETE and TRUNCATE; a superuser or the table owner can still disable it
(tamper tests do exactly that), which is why the chain and the checkpoint exist. Give
the service's role INSERT and SELECT only. Entries are stored as compact.py says; times are
indexed with BRIN (they grow with seq), a few bytes per thousand entries instead of a B-tree's
thirty per entry; the indexes on keys that only grow (seq, ref) fill their pages whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from exchange.audit import compact
from exchange.audit.chain import GENESIS, ChainRow, Prepared, link
from exchange.audit.compact import LOG, META, NAMES, OLD_TABLE, REFS, Encoder, decode, digest
from exchange.audit.entry import format_time
from exchange.audit.errors import StoreUnavailable
from exchange.audit.store import AuditStore, Seal
from exchange.audit.url import PostgresTarget
from exchange.logging import redact_url

TABLE = LOG
_OLD_COLUMNS = (
    """seq, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), event, message_id,"""
    " record_id, partner, actor, details, doc_sha256, prev_hash, hash"
)
_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE {names} (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE {refs} (id bigserial PRIMARY KEY WITH (fillfactor = 100), message_id text, record_id text);
CREATE INDEX ON {refs} (message_id);
CREATE INDEX ON {refs} (record_id);
CREATE TABLE {meta} (id int PRIMARY KEY CHECK (id = 1), generation bigint NOT NULL);
CREATE TABLE {table} (
    seq bigint PRIMARY KEY WITH (fillfactor = 100),
    t bigint NOT NULL,
    ref bigint,
    ev int NOT NULL,
    actor int NOT NULL,
    partner int,
    dref int,
    details text,
    doc bytea,
    prev bytea NOT NULL,
    hash bytea NOT NULL
);
CREATE INDEX ON {table} (ref) WITH (fillfactor = 100);
CREATE INDEX ON {table} USING brin (t);
CREATE FUNCTION {refuse}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {refuse}();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {refuse}();
CREATE TRIGGER audit_names_append_only BEFORE UPDATE OR DELETE ON {names}
    FOR EACH ROW EXECUTE FUNCTION {refuse}();
CREATE TRIGGER audit_refs_no_update BEFORE UPDATE ON {refs}
    FOR EACH ROW EXECUTE FUNCTION {refuse}();
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
        migrating: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.target = target
        self._connect_timeout = connect_timeout
        self._table = sql.Identifier(target.schema, TABLE)
        self._lock_key = _lock_key(target.schema)
        self._prefix = f"{target.schema}."
        self._encoder = Encoder(self._prefix, "%s")
        self._select = sql.Composed([sql.SQL(compact.select_sql(self._prefix))])
        self._conn = self._connect()
        try:
            self._setup(create, migrating)
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

    def _setup(self, create: bool, migrating: bool) -> None:
        table_name = f"{self.target.schema}.{TABLE}"
        if self._exists(f"{self.target.schema}.{OLD_TABLE}") and not migrating:
            from exchange.audit.sqlite import old_format_message

            raise StoreUnavailable(old_format_message(self.describe(), self.target.conninfo))
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
                        names=sql.Identifier(self.target.schema, NAMES),
                        refs=sql.Identifier(self.target.schema, REFS),
                        meta=sql.Identifier(self.target.schema, META),
                        refuse=sql.Identifier(self.target.schema, "audit_log_refuse"),
                    )
                )
        elif not self._exists(table_name):
            raise StoreUnavailable(f"{self.describe()} holds no audit trail")

    def _exists(self, table_name: str) -> bool:
        """Read from pg_tables with this statement's snapshot: `to_regclass` may answer from a
        catalog cache that an advisory lock does not refresh, and miss a table just created."""
        schema, _, name = table_name.partition(".")
        row = self._conn.execute(
            "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = %s", (schema, name)
        ).fetchone()
        return row is not None

    def describe(self) -> str:
        return f"{redact_url(self.target.conninfo)} (schema {self.target.schema})"

    def _live(self) -> psycopg.Connection[Any]:
        """The connection, reopened if the server dropped it (restart, failover)."""
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def _write(self, batch: list[Prepared]) -> None:
        def rows_after(head: tuple[int, str] | None) -> list[tuple[ChainRow, int | None]]:
            rows = link(batch, *(head or (0, GENESIS)))
            return list(zip(rows, (p.us for p in batch), strict=True))

        self._copy(rows_after)

    def _copy(self, rows_after: Any) -> None:
        """Under the writers' lock: `rows_after(head)` gives (row, µs or None) pairs to COPY in."""
        copy_sql = sql.SQL("COPY {table} ({cols}) FROM STDIN").format(
            table=self._table, cols=sql.SQL(", ").join(sql.Identifier(c) for c in compact.COLUMNS)
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
                found = cur.fetchone()
                head = None if found is None else (int(found[0]), compact.hex_of(found[1]) or "")
                enc = self._encoder
                enc.start(cur)
                encoded = [enc.encode(cur, row, us) for row, us in rows_after(head)]
                with cur.copy(copy_sql) as copy:
                    for values in encoded:
                        copy.write_row(values)
        except BaseException as e:
            self._encoder = Encoder(self._prefix, "%s")  # ids it learnt in this transaction are gone
            if isinstance(e, psycopg.Error):
                raise StoreUnavailable(f"cannot write audit store {self.describe()}: {e}") from e
            raise

    def _query(self, query: sql.Composed, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._live().execute(query, args).fetchall()
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot read audit store {self.describe()}: {e}") from e

    def _head(self) -> tuple[int, str] | None:
        rows = self._query(
            sql.SQL("SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1").format(table=self._table)
        )
        return (int(rows[0][0]), compact.hex_of(rows[0][1]) or "") if rows else None

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
                        yield decode(row)
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot read audit store {self.describe()}: {e}") from e

    def _purge(self, before: str, seal: Seal | None) -> tuple[int, int]:
        """One transaction under the writers' lock: the start recorded, the entries before it
        deleted with the append-only trigger lifted for this transaction only (the table
        owner's right; anyone else is refused, as for any delete), then the refs no kept
        entry uses, with the generation bumped so writers forget them."""
        table, start = self._table, self._start_table
        refs = sql.Identifier(self.target.schema, REFS)
        meta = sql.Identifier(self.target.schema, META)
        try:
            conn = self._live()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                cur.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {start} (id int PRIMARY KEY CHECK (id = 1),"
                        " seq bigint NOT NULL, prev_hash text NOT NULL, purged_before text NOT NULL,"
                        " seal text)"
                    ).format(start=start)
                )
                cur.execute(
                    sql.SQL("ALTER TABLE {start} ADD COLUMN IF NOT EXISTS seal text").format(start=start)
                )
                cur.execute(
                    sql.SQL("SELECT seq, prev FROM {table} WHERE t >= %s ORDER BY seq LIMIT 1").format(
                        table=table
                    ),
                    (compact.us_of(before),),
                )
                first = cur.fetchone()
                if first is None:  # everything is older: the head is kept, so appends link to it
                    cur.execute(
                        sql.SQL("SELECT seq, prev FROM {table} ORDER BY seq DESC LIMIT 1").format(table=table)
                    )
                    first = cur.fetchone()
                seq, prev_hash = (int(first[0]), compact.hex_of(first[1]) or "") if first else (1, GENESIS)
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
                        "DELETE FROM {refs} r WHERE NOT EXISTS (SELECT 1 FROM {table} e WHERE e.ref = r.id)"
                    ).format(refs=refs, table=table)
                )
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {meta} VALUES (1, 1) ON CONFLICT (id) DO UPDATE"
                        " SET generation = {meta}.generation + 1"
                    ).format(meta=meta)
                )
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {start} (id, seq, prev_hash, purged_before, seal)"
                        " VALUES (1, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
                        " seq = excluded.seq, prev_hash = excluded.prev_hash,"
                        " purged_before = excluded.purged_before, seal = excluded.seal"
                    ).format(start=start),
                    (seq, prev_hash, before, None if seal is None else seal(seq, prev_hash, before)),
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

    def _chain_start_seal(self) -> str | None:
        if not self._exists(f"{self.target.schema}.audit_chain_start"):
            return None
        try:
            rows = (
                self._live()
                .execute(sql.SQL("SELECT seal FROM {start} WHERE id = 1").format(start=self._start_table))
                .fetchall()
            )
        except psycopg.errors.UndefinedColumn:
            return None
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    @property
    def _start_table(self) -> sql.Identifier:
        return sql.Identifier(self.target.schema, "audit_chain_start")

    def _iter_rows(self) -> Generator[ChainRow]:
        return self._stream(self._select + sql.SQL(" ORDER BY e.seq"))

    def _find_by_hash(self, entry_hash: str) -> ChainRow | None:
        rows = self._query(self._select + sql.SQL(" WHERE e.hash = %s"), (digest(entry_hash),))
        return decode(rows[0]) if rows else None

    def _trace_rows(self, id: str) -> list[ChainRow]:
        refs = sql.Identifier(self.target.schema, REFS)
        query = self._select + sql.SQL(
            " WHERE e.ref IN (SELECT id FROM {refs} WHERE message_id = %s"
            " UNION SELECT id FROM {refs} WHERE record_id = %s) ORDER BY e.seq"
        ).format(refs=refs)
        return [decode(row) for row in self._query(query, (id, id))]

    @staticmethod
    def _where(since: datetime | None, until: datetime | None) -> tuple[list[sql.Composable], list[Any]]:
        where: list[sql.Composable] = []
        args: list[Any] = []
        if since is not None:
            where.append(sql.SQL("e.t >= %s"))
            args.append(compact.us_of(format_time(since)))
        if until is not None:
            where.append(sql.SQL("e.t < %s"))
            args.append(compact.us_of(format_time(until)))
        return where, args

    def _export_rows(
        self, since: datetime | None, until: datetime | None, partner: str | None
    ) -> Generator[ChainRow]:
        where, args = self._where(since, until)
        if partner is not None:
            where.append(sql.SQL("pa.name = %s"))
            args.append(partner)
        query = self._select
        if where:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
        return self._stream(query + sql.SQL(" ORDER BY e.seq"), tuple(args))

    def _scan_rows(
        self, since: datetime | None, until: datetime | None, events: tuple[str, ...] | None
    ) -> Generator[ChainRow]:
        where, args = self._where(since, until)
        if events is not None:
            where.append(sql.SQL("ev.name = ANY(%s)"))
            args.append(list(events))
        query = self._select
        if where:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
        return self._stream(query + sql.SQL(" ORDER BY e.seq"), tuple(args))

    def _last_event(self, message_id: str, partner: str | None) -> str | None:
        names = sql.Identifier(self.target.schema, NAMES)
        refs = sql.Identifier(self.target.schema, REFS)
        query = sql.SQL(
            "SELECT n.name FROM {table} e JOIN {names} n ON n.id = e.ev"
            " WHERE e.ref IN (SELECT id FROM {refs} WHERE message_id = %s)"
        ).format(table=self._table, names=names, refs=refs)
        args: tuple[Any, ...] = (message_id,)
        if partner is not None:
            query += sql.SQL(" AND e.partner = (SELECT id FROM {names} WHERE name = %s)").format(names=names)
            args = (message_id, partner)
        rows = self._query(query + sql.SQL(" ORDER BY e.seq DESC LIMIT 1"), args)
        return None if not rows else str(rows[0][0])

    # -- the previous format -------------------------------------------------------

    def _insert_rows(self, rows: list[ChainRow]) -> None:
        self._copy(lambda _head: [(row, None) for row in rows])

    def _old_rows(self) -> Generator[ChainRow]:
        query = sql.SQL(f"SELECT {_OLD_COLUMNS} FROM {{old}} ORDER BY seq").format(
            old=sql.Identifier(self.target.schema, OLD_TABLE)
        )
        try:
            with self._connect() as conn:
                conn.autocommit = False
                cur = conn.cursor(name="audit_old")
                cur.itersize = 2000
                cur.execute(query)
                for row in cur:
                    yield ChainRow(*row)
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot read audit store {self.describe()}: {e}") from e

    def _has_old(self) -> bool:
        return self._exists(f"{self.target.schema}.{OLD_TABLE}")

    def _drop_old(self) -> None:
        self._live().execute(
            sql.SQL("DROP TABLE IF EXISTS {old}").format(old=sql.Identifier(self.target.schema, OLD_TABLE))
        )

    def _close(self) -> None:
        self._conn.close()
