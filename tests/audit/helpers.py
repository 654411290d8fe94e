"""Test helpers: sample entries, raw SQL tampering behind the store's back, writer processes.

Tampering goes around the append-only triggers the way an intruder with database rights
would: on SQLite by dropping the triggers, on PostgreSQL with
`ALTER TABLE … DISABLE TRIGGER USER` (the table owner may; so may any superuser).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from exchange.audit import AuditEntry, AuditEvent, open_store, sha256_hex
from exchange.audit.chain import ChainRow, body_json, link_hash
from exchange.audit.compact import digest, us_of
from exchange.audit.url import PostgresTarget, parse_audit_url

_NAMED = {"event": "ev", "partner": "partner", "actor": "actor"}
_DIGESTS = {"doc_sha256": "doc", "prev_hash": "prev", "hash": "hash"}


def sample(i: int, *, partner: str = "eu", message_id: str | None = None) -> AuditEntry:
    return AuditEntry(
        list(AuditEvent)[i % len(AuditEvent)],
        message_id=message_id or f"msg-{i}",
        record_id=f"CCC-{i // 2}",
        partner=partner,
        details={"i": i, "note": "Prüfbericht №7"},
        doc_sha256=sha256_hex(f"doc {i}".encode()),
    )


def fill(url: str, n: int) -> None:
    with open_store(url) as store:
        store.append_many(sample(i) for i in range(n))


class Raw:
    """Direct SQL on a store's table, with the append-only triggers out of the way."""

    def __init__(self, url: str) -> None:
        target = parse_audit_url(url)
        self.url = url
        self.pg = isinstance(target, PostgresTarget)
        if isinstance(target, PostgresTarget):
            self.table = f'"{target.schema}".audit_log'
            self.schema = f'"{target.schema}".'
            self._pg = psycopg.connect(target.conninfo, autocommit=True)
            self._pg.execute("SET TIME ZONE 'UTC'")
        else:
            assert target.path is not None
            self.table = "audit_log"
            self.schema = ""
            self._lite = sqlite3.connect(target.path, isolation_level=None)

    def close(self) -> None:
        (self._pg if self.pg else self._lite).close()

    def run(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        sql = sql.replace("{t}", self.table).replace("{s}", self.schema)
        if self.pg:
            cur = self._pg.execute(sql.replace("?", "%s"), args)
            return cur.fetchall() if cur.description else []
        return self._lite.execute(sql, args).fetchall()

    @contextmanager
    def unguarded(self) -> Iterator[Raw]:
        """Triggers off for the block (and back on after, on PostgreSQL)."""
        if self.pg:
            for table in ("{t}", "{s}audit_names", "{s}audit_refs"):
                self.run(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            try:
                yield self
            finally:
                for table in ("{t}", "{s}audit_names", "{s}audit_refs"):
                    self.run(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        else:
            for table in ("audit_log", "audit_names", "audit_refs"):
                self.run(f"DROP TRIGGER IF EXISTS {table}_no_update")
                self.run(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            yield self

    def rows(self) -> list[ChainRow]:
        with open_store(self.url, create=False) as store:
            return list(store._iter_rows())

    def name_id(self, text: str) -> int:
        """The id of `text` in the lookup table, added if new (as an intruder would)."""
        found = self.run("SELECT id FROM {s}audit_names WHERE name = ?", text)
        if found:
            return int(found[0][0])
        return int(self.run("INSERT INTO {s}audit_names (name) VALUES (?) RETURNING id", text)[0][0])

    def tamper(self, seq: int, column: str, value: Any) -> None:
        """Change one field of one entry as stored, whatever column holds it."""
        if column in _NAMED:
            self.run(f"UPDATE {{t}} SET {_NAMED[column]} = ? WHERE seq = ?", self.name_id(value), seq)
        elif column in _DIGESTS:
            self.run(f"UPDATE {{t}} SET {_DIGESTS[column]} = ? WHERE seq = ?", digest(value), seq)
        elif column == "details":
            self.run("UPDATE {t} SET dref = NULL, details = ? WHERE seq = ?", value, seq)
        elif column == "time":
            self.run("UPDATE {t} SET t = ? WHERE seq = ?", us_of(value), seq)
        elif column in ("message_id", "record_id"):
            row = next(r for r in self.rows() if r.seq == seq)
            pair = (value, row.record_id) if column == "message_id" else (row.message_id, value)
            ref = self.run("INSERT INTO {s}audit_refs (message_id, record_id) VALUES (?, ?) RETURNING id",
                           *pair)  # fmt: skip
            self.run("UPDATE {t} SET ref = ? WHERE seq = ?", ref[0][0], seq)
        else:
            raise ValueError(column)

    def renumber_from(self, seq: int, delta: int) -> None:
        """seq += delta for every entry from `seq` on, in two steps (the key stays unique)."""
        self.run("UPDATE {t} SET seq = -(seq + ?) WHERE seq >= ?", delta, seq)
        self.run("UPDATE {t} SET seq = -seq WHERE seq < 0")

    def swap(self, a: int, b: int) -> None:
        self.run("UPDATE {t} SET seq = -1 WHERE seq = ?", a)
        self.run("UPDATE {t} SET seq = ? WHERE seq = ?", a, b)
        self.run("UPDATE {t} SET seq = ? WHERE seq = -1", b)

    def insert(self, row: ChainRow) -> None:
        """A row as given, hashes and all (the store's own encoding, bypassing the chain)."""
        with open_store(self.url, create=False) as store:
            store._insert_rows([row])


def forged(seq: int, prev_hash: str, time: str, *, details: str = '{"forged":true}') -> ChainRow:
    """A well-formed entry with a correct hash: what someone who knows the scheme can make."""
    fields: dict[str, Any] = {
        "time": time,
        "event": "ACKNOWLEDGED",
        "message_id": "msg-forged",
        "record_id": "CCC-forged",
        "partner": "eu",
        "actor": "operator:mallory",
        "details": details,
        "doc_sha256": None,
    }
    h = link_hash(body_json(**fields).encode(), prev_hash, seq)
    return ChainRow(seq=seq, prev_hash=prev_hash, hash=h, **fields)


def writer_process(url: str, writer: int, n: int, batch_size: int, start: Any) -> None:
    """One of several processes appending to the same store at once.

    `start` is a barrier all writers reach with their store open, so they really race.
    """
    with open_store(url, batch_size=batch_size) as store:
        start.wait(timeout=60)
        for i in range(n):
            store.append(
                AuditEntry(
                    AuditEvent.SEND_IN_PROGRESS,
                    message_id=f"w{writer}-{i}",
                    record_id=f"writer-{writer}",
                    actor=f"worker-{writer}",
                    details={"writer": writer, "i": i},
                )
            )
            if i % 37 == 0:
                store.flush()  # as the pipeline does before acknowledging


def flush_then_hang(url: str, ready: Any) -> None:
    """Flush 10 entries, buffer 5 more, then wait to be killed."""
    store = open_store(url, batch_size=1000)
    for i in range(10):
        store.append(AuditEntry(AuditEvent.RECEIVED, message_id=f"durable-{i}"))
    store.flush()
    for i in range(5):
        store.append(AuditEntry(AuditEvent.RECEIVED, message_id=f"buffered-{i}"))
    ready.set()
    import time

    time.sleep(60)
