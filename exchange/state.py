"""Delivery state per (scope, message id): what makes redeliveries harmless.

The broker delivers at least once; this table turns that into "a partner never sees
a message twice": a worker reads the state of a whole batch in one query before
sending, and writes the new states in one transaction before it acknowledges the
batch. It lives in the same database as the audit trail (same URL), in its own table,
so it survives restarts and is shared by every worker on every host.

States: SENT (handed to the partner, attempt n), ACKNOWLEDGED, REJECTED (attempt n
failed; a retry may send again), DONE (intake: converted and enqueued), FAILED.

One row per scope (a partner, or the intake) and message, stored compactly: the digest
as 32 bytes, the state as a small integer, and on SQLite without a rowid (the key is the
table, not a second index beside it). A table of the previous text format
(`delivery_state`) is converted when a store opens it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exchange.audit.compact import digest, hex_of
from exchange.db import create_if_missing, execute_many, open_database


class State(StrEnum):
    DONE = "DONE"
    SENT = "SENT"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


_CODE = {s: i for i, s in enumerate(State)}
_OF_CODE = dict(enumerate(State))


def state_code(state: State) -> int:
    """How `state` is stored (queries joining this table, e.g. exchange/version_ledger.py)."""
    return _CODE[state]


OLD_TABLE = "delivery_state"
TABLE = "delivery_states"


@dataclass(frozen=True, slots=True)
class Delivery:
    scope: str
    message_id: str
    sha256: str
    attempt: int
    state: State


class StateStore:
    """SQLite or PostgreSQL, chosen by the audit URL; safe to share between threads."""

    def __init__(self, url: str | None = None):
        db = open_database(url)
        self._lock = threading.Lock()
        self._conn: Any = db.conn
        self._ph = db.placeholder
        self._table = f"{db.prefix}{TABLE}"
        blob, rowid = ("BYTEA", "") if db.postgres else ("BLOB", " WITHOUT ROWID")
        create_if_missing(  # two workers starting at once: one creates it
            self._conn,
            f"CREATE TABLE IF NOT EXISTS {self._table} ("
            f" scope TEXT NOT NULL, message_id TEXT NOT NULL, sha256 {blob} NOT NULL,"
            " attempt INTEGER NOT NULL, state SMALLINT NOT NULL,"
            f" PRIMARY KEY (scope, message_id)){rowid}",
        )
        if db.postgres:  # every row is updated once or twice: vacuum it early, reuse the space
            self._conn.execute(
                f"ALTER TABLE {self._table} SET (autovacuum_vacuum_scale_factor = 0.02,"
                " autovacuum_vacuum_threshold = 1000)"
            )
        self._convert_old(db.postgres, f"{db.prefix}{OLD_TABLE}")

    def _convert_old(self, postgres: bool, old: str) -> None:
        """Rows of the previous text format move here, in one transaction with the drop."""
        if postgres:
            schema, _, name = old.partition(".")
            found = self._conn.execute(
                "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = %s",
                (schema, name),
            ).fetchone()
        else:
            found = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (old,)
            ).fetchone()
        if found is None:
            return
        rows = self._conn.execute(f"SELECT scope, message_id, sha256, attempt, state FROM {old}").fetchall()
        p = self._ph
        values = [(s, m, digest(h), int(a), _CODE[State(st)]) for s, m, h, a, st in rows]
        sql = (
            f"INSERT INTO {self._table} (scope, message_id, sha256, attempt, state)"
            f" VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (scope, message_id) DO NOTHING"
        )
        drop = f"DROP TABLE IF EXISTS {old}"
        if postgres:
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.executemany(sql, values)
                cur.execute(drop)
        else:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(sql, values)
                self._conn.execute(drop)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def get_many(self, scope: str, message_ids: Sequence[str]) -> dict[str, Delivery]:
        if not message_ids:
            return {}
        found: dict[str, Delivery] = {}
        with self._lock:
            for start in range(0, len(message_ids), 500):
                chunk = list(message_ids[start : start + 500])
                marks = ",".join([self._ph] * len(chunk))
                rows = self._conn.execute(
                    f"SELECT message_id, sha256, attempt, state FROM {self._table}"
                    f" WHERE scope = {self._ph} AND message_id IN ({marks})",
                    [scope, *chunk],
                ).fetchall()
                for mid, sha, attempt, state in rows:
                    found[mid] = Delivery(scope, mid, hex_of(sha) or "", int(attempt), _OF_CODE[int(state)])
        return found

    def get(self, scope: str, message_id: str) -> Delivery | None:
        return self.get_many(scope, [message_id]).get(message_id)

    def put_many(self, rows: Iterable[Delivery]) -> None:
        """Upsert in one transaction; durable on return."""
        values = [(r.scope, r.message_id, digest(r.sha256), r.attempt, _CODE[r.state]) for r in rows]
        if not values:
            return
        p = self._ph
        sql = (
            f"INSERT INTO {self._table} (scope, message_id, sha256, attempt, state)"
            f" VALUES ({p}, {p}, {p}, {p}, {p})"
            " ON CONFLICT (scope, message_id) DO UPDATE SET"
            " sha256 = excluded.sha256, attempt = excluded.attempt, state = excluded.state"
        )
        with self._lock:
            execute_many(self._conn, sql, values)

    def acknowledge_first(self, rows: Sequence[Delivery]) -> set[str]:
        """Set the rows ACKNOWLEDGED, in one transaction; the ids that were not ACKNOWLEDGED
        before. Several workers (or a receipt sent twice) may learn of one acknowledgement at
        once: the one that wins here audits it, so the trail says ACKNOWLEDGED once."""
        if not rows:
            return set()
        p = self._ph
        sql = (
            f"INSERT INTO {self._table} AS d (scope, message_id, sha256, attempt, state)"
            f" VALUES ({p}, {p}, {p}, {p}, {_CODE[State.ACKNOWLEDGED]})"
            " ON CONFLICT (scope, message_id) DO UPDATE SET"
            " sha256 = excluded.sha256, attempt = excluded.attempt, state = excluded.state"
            f" WHERE d.state <> {_CODE[State.ACKNOWLEDGED]} RETURNING message_id"
        )
        won: set[str] = set()
        with self._lock:
            if isinstance(self._conn, sqlite3.Connection):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for r in rows:
                        if self._conn.execute(
                            sql, (r.scope, r.message_id, digest(r.sha256), r.attempt)
                        ).fetchone():
                            won.add(r.message_id)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            else:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    for r in rows:
                        cur.execute(sql, (r.scope, r.message_id, digest(r.sha256), r.attempt))
                        if cur.fetchone():
                            won.add(r.message_id)
        return won

    def claim_many(self, rows: Sequence[Delivery]) -> set[str]:
        """Insert the rows whose (scope, message id) has no state yet, in one transaction;
        the ids this call claimed. Two workers holding copies of one message: one claims it,
        the other learns that it must not send it blindly."""
        if not rows:
            return set()
        p = self._ph
        sql = (
            f"INSERT INTO {self._table} (scope, message_id, sha256, attempt, state)"
            f" VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (scope, message_id) DO NOTHING"
        )
        claimed: set[str] = set()
        with self._lock:
            if isinstance(self._conn, sqlite3.Connection):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for r in rows:
                        cur = self._conn.execute(
                            sql, (r.scope, r.message_id, digest(r.sha256), r.attempt, _CODE[r.state])
                        )
                        if cur.rowcount == 1:
                            claimed.add(r.message_id)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            else:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    for r in rows:
                        cur.execute(sql, (r.scope, r.message_id, digest(r.sha256), r.attempt, _CODE[r.state]))
                        if cur.rowcount == 1:
                            claimed.add(r.message_id)
        return claimed

    def counts(self, scope: str) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT state, COUNT(*) FROM {self._table} WHERE scope = {self._ph} GROUP BY state",
                [scope],
            ).fetchall()
        return {_OF_CODE[int(s)].value: int(n) for s, n in rows}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
