"""A store of the previous text format (table audit_entries, hex digests, names inline):
this version refuses it with a message naming `exchange audit migrate`, which converts it
with every hash unchanged (so old checkpoints still hold) and refuses a broken chain."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from typer.testing import CliRunner

from exchange.audit import Checkpoint, StoreUnavailable, open_store
from exchange.audit.chain import GENESIS, link, prepare
from exchange.audit.cli import app
from exchange.audit.url import PostgresTarget, SqliteTarget, parse_audit_url
from tests.audit.helpers import sample

N = 10
_OLD_SQLITE = """CREATE TABLE audit_entries (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, event TEXT NOT NULL,
message_id TEXT, record_id TEXT, partner TEXT, actor TEXT NOT NULL, details TEXT NOT NULL, doc_sha256 TEXT,
prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"""
_OLD_PG = """CREATE TABLE {s}.audit_entries (seq bigint PRIMARY KEY, time timestamptz NOT NULL,
event text NOT NULL, message_id text, record_id text, partner text, actor text NOT NULL,
details text NOT NULL, doc_sha256 text, prev_hash text NOT NULL, hash text NOT NULL)"""


def make_old_store(url: str, *, tamper: bool = False) -> tuple[int, str]:
    """N entries written as the previous version wrote them; returns the head."""
    t0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1e6)
    rows = link([prepare(sample(i), t0 + i * 1_000_123) for i in range(N)], 0, GENESIS)
    values = [tuple(r) for r in rows]
    if tamper:
        values[3] = (*values[3][:7], '{"i":3,"note":"rewritten"}', *values[3][8:])
    target = parse_audit_url(url)
    if isinstance(target, SqliteTarget):
        import sqlite3

        assert target.path is not None
        conn = sqlite3.connect(target.path)
        conn.execute(_OLD_SQLITE)
        conn.executemany("INSERT INTO audit_entries VALUES (?,?,?,?,?,?,?,?,?,?,?)", values)
        conn.commit()
        conn.close()
    else:
        assert isinstance(target, PostgresTarget)
        with psycopg.connect(target.conninfo, autocommit=True) as pg:
            pg.execute("SET TIME ZONE 'UTC'")
            pg.execute(f"CREATE SCHEMA {target.schema}")
            pg.execute(_OLD_PG.replace("{s}", target.schema))  # type: ignore[arg-type]
            with pg.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {target.schema}.audit_entries VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",  # type: ignore[arg-type]
                    values,
                )
    return rows[-1].seq, rows[-1].hash


def run(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"EXCHANGE_AUDIT_URL": None, "EXCHANGE_SIGNING_CERT": None}).invoke(
        app, list(args)
    )
    return result.exit_code, result.stdout + result.stderr


def test_the_old_format_is_refused_with_a_message_naming_migrate(store_url: str) -> None:
    make_old_store(store_url)
    for create in (False, True):  # readers and the service alike
        with pytest.raises(StoreUnavailable, match=r"previous text format.*exchange audit migrate"):
            open_store(store_url, create=create)
    code, out = run("verify", "--audit", store_url)
    assert code == 2 and "exchange audit migrate" in out, out


def test_migrate_keeps_every_hash_so_old_checkpoints_still_hold(store_url: str) -> None:
    head_seq, head_hash = make_old_store(store_url)
    code, out = run("migrate", "--audit", store_url)
    assert code == 0 and f"migrated {N} entries; intact: {N} entries" in out, out
    with open_store(store_url, create=False) as store:
        assert store.head() == (head_seq, head_hash)
        assert store.verify(Checkpoint(head_seq, head_hash, datetime.now(UTC), store_url)).ok
        (entry,) = store.trace("msg-3")
        assert entry.details == {"i": 3, "note": "Prüfbericht №7"} and entry.partner == "eu"
        store.append(sample(99))  # and it goes on
    assert run("verify", "--audit", store_url)[0] == 0
    code, out = run("migrate", "--audit", store_url)
    assert code == 2 and "nothing to migrate" in out


def test_a_broken_old_chain_is_not_migrated(store_url: str) -> None:
    make_old_store(store_url, tamper=True)
    code, out = run("migrate", "--audit", store_url)
    assert code == 1 and "does not verify" in out and "entry 4" in out, out
    with pytest.raises(StoreUnavailable, match="previous text format"):
        open_store(store_url, create=False)
