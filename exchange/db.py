"""One connection to the service's database (the audit URL's), for the small tables that
live beside the audit trail: delivery state, certificate statuses, the pull outbox."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exchange.audit.url import PostgresTarget, SqliteTarget, parse_audit_url, resolve_audit_url


@dataclass(frozen=True)
class Database:
    conn: Any
    """sqlite3 (autocommit, WAL) or psycopg (autocommit): callers open transactions."""
    postgres: bool
    prefix: str
    """Schema prefix for table names ("" on SQLite, "schema." on PostgreSQL)."""

    @property
    def placeholder(self) -> str:
        return "%s" if self.postgres else "?"


def open_database(url: str | None = None) -> Database:
    target = parse_audit_url(resolve_audit_url(url))
    if isinstance(target, SqliteTarget):
        path = str(target.path) if target.path else ":memory:"
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return Database(conn, False, "")
    assert isinstance(target, PostgresTarget)

    pg = Reconnecting(target.conninfo)
    create_if_missing(pg, f"CREATE SCHEMA IF NOT EXISTS {target.schema}")
    return Database(pg, True, f"{target.schema}.")


class Reconnecting:
    """A psycopg connection (autocommit) opened again once the server dropped it (a restart,
    a failover): the statement that met the break fails, the next one finds a new session."""

    def __init__(self, conninfo: str):
        import psycopg

        self._psycopg = psycopg
        self._conninfo = conninfo
        self._conn = psycopg.connect(conninfo, autocommit=True)

    def _live(self) -> Any:
        if self._conn.closed or self._conn.broken:
            self._conn = self._psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._live(), name)


def execute_many(conn: Any, sql: str, values: Sequence[Sequence[Any]]) -> None:
    """`sql` for every row of `values` in one transaction (one executemany): a batch is
    written whole or not at all, and durably when this returns."""
    if isinstance(conn, sqlite3.Connection):
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(sql, values)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    else:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(sql, values)


def create_if_missing(conn: Any, statement: str) -> None:
    """`CREATE ... IF NOT EXISTS` that also holds when several workers start at once: on
    PostgreSQL IF NOT EXISTS takes no lock, and the loser of the race hits the catalogue's
    unique index ("already exists"); the object is there, so that is success."""
    for attempt in range(3):
        try:
            conn.execute(statement)
            return
        except Exception as exc:
            if "already exists" not in str(exc):
                raise
            if attempt == 2:
                return
            time.sleep(0.05)
