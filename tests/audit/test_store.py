"""One behaviour suite, run against a real SQLite file and the real PostgreSQL server."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from exchange.audit import (
    GENESIS,
    AuditEntry,
    AuditEvent,
    AuditStore,
    StoreUnavailable,
    open_store,
    sha256_hex,
)
from tests.audit.helpers import Raw, fill, flush_then_hang, sample, writer_process

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@pytest.fixture
def store(store_url: str) -> Iterator[AuditStore]:
    with open_store(store_url, batch_size=100) as s:
        yield s


def count(url: str) -> int:
    with open_store(url, create=False) as other:
        return other.verify().entries


def test_appends_are_buffered_until_flush(store: AuditStore, store_url: str) -> None:
    for i in range(3):
        store.append(sample(i))
    assert store.pending == 3
    assert count(store_url) == 0  # another connection sees nothing yet
    store.flush()
    assert store.pending == 0
    assert count(store_url) == 3


def test_full_buffer_writes_a_batch(store_url: str) -> None:
    with open_store(store_url, batch_size=5) as s:
        s.append_many(sample(i) for i in range(7))
        assert s.pending == 2
        assert count(store_url) == 5


def test_close_flushes(store_url: str) -> None:
    s = open_store(store_url)
    s.append(sample(1))
    s.close()
    s.close()  # idempotent
    assert count(store_url) == 1
    with pytest.raises(RuntimeError):
        s.flush()


def test_trace_by_message_or_record_in_chain_order(store: AuditStore) -> None:
    doc = sha256_hex(b"<ccc/>")
    details = {"reason": "ÉU “quoted” \\ \n", "nested": {"b": [1, 2.5, None], "a": True}}
    store.append(AuditEntry(AuditEvent.RECEIVED, message_id="m1", record_id="CCC-9"))
    store.append(AuditEntry(AuditEvent.RECEIVED, message_id="other", record_id="CCC-1"))
    store.append(
        AuditEntry(
            AuditEvent.SIGNED,
            message_id="m1",
            record_id="CCC-9",
            partner="eu",
            actor="operator:ana",
            details=details,
            doc_sha256=doc,
        )
    )
    store.append(AuditEntry(AuditEvent.REPLAYED, message_id="m2", record_id="CCC-9"))

    by_record = store.trace("CCC-9")
    assert [(e.seq, e.event) for e in by_record] == [
        (1, AuditEvent.RECEIVED),
        (3, AuditEvent.SIGNED),
        (4, AuditEvent.REPLAYED),
    ]
    by_message = store.trace("m1")
    assert [e.seq for e in by_message] == [1, 3]
    signed = by_message[1]
    assert signed.details == details
    assert (signed.partner, signed.actor, signed.doc_sha256) == ("eu", "operator:ana", doc)
    assert signed.time.tzinfo is not None and signed.time.utcoffset() == timedelta(0)
    assert store.trace("nobody") == []


def test_entries_are_chained_with_times_to_the_microsecond(store: AuditStore) -> None:
    ticks = iter(us(T0) + k * 1_000_001 + 7 for k in range(5))
    store.clock = lambda: next(ticks)
    store.append_many(sample(i, message_id="m") for i in range(5))
    entries = store.trace("m")
    assert entries[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert [e.time for e in entries] == [T0 + timedelta(microseconds=k * 1_000_001 + 7) for k in range(5)]
    assert store.head() == (5, entries[-1].hash)


def test_last_state(store: AuditStore) -> None:
    assert store.last_state("m1") is None
    store.append(AuditEntry(AuditEvent.SEND_ENQUEUED, message_id="m1", partner="eu"))
    store.append(AuditEntry(AuditEvent.SEND_ENQUEUED, message_id="m1", partner="us"))
    store.append(AuditEntry(AuditEvent.ACKNOWLEDGED, message_id="m1", partner="eu"))
    assert store.last_state("m1") is AuditEvent.ACKNOWLEDGED  # still buffered
    store.flush()
    assert store.last_state("m1") is AuditEvent.ACKNOWLEDGED
    assert store.last_state("m1", "us") is AuditEvent.SEND_ENQUEUED
    assert store.last_state("m1", "jp") is None
    store.append(AuditEntry(AuditEvent.SEND_ATTEMPT_FAILED, message_id="m1", partner="us"))
    assert store.last_state("m1", "us") is AuditEvent.SEND_ATTEMPT_FAILED
    assert store.last_state("m1", "eu") is AuditEvent.ACKNOWLEDGED


def test_export_by_time_window_and_partner(store: AuditStore) -> None:
    ticks = iter(us(T0 + timedelta(hours=h)) for h in range(6))
    store.clock = lambda: next(ticks)
    for h in range(6):
        store.append(sample(h, partner="eu" if h % 2 else "us"))
    window = store.export(T0 + timedelta(hours=1), T0 + timedelta(hours=4))
    assert not isinstance(window, list)  # streamed, not materialised
    assert [e.details["i"] for e in window] == [1, 2, 3]  # since inclusive, until exclusive
    eu = store.export(T0, None, partner="eu")
    assert [e.details["i"] for e in eu] == [1, 3, 5]
    assert [e.seq for e in store.export(None, None)] == [1, 2, 3, 4, 5, 6]
    assert list(store.export(T0 + timedelta(days=1), None)) == []


def test_verify_intact(store: AuditStore) -> None:
    empty = store.verify()
    assert empty.ok and empty.entries == 0 and empty.head_hash == GENESIS
    store.append_many(sample(i) for i in range(250))  # crosses batch boundaries
    report = store.verify()
    assert report.ok, report.problem
    assert (report.entries, report.head_seq) == (250, 250)


def test_entries_are_append_only(store_url: str) -> None:
    fill(store_url, 3)
    raw = Raw(store_url)
    try:
        for sql in ("UPDATE {t} SET partner = partner WHERE seq = 2", "DELETE FROM {t} WHERE seq = 2"):
            with pytest.raises(Exception, match="append-only"):
                raw.run(sql)
        assert [r.partner for r in raw.rows()] == ["eu", "eu", "eu"]
    finally:
        raw.close()


def test_readers_do_not_create_a_store(store_url: str) -> None:
    with pytest.raises(StoreUnavailable, match="no audit"):
        open_store(store_url, create=False)


def test_flushed_entries_survive_a_killed_process(store_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=flush_then_hang, args=(store_url, ready))
    proc.start()
    try:
        assert ready.wait(30), "child did not flush in time"
    finally:
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    with open_store(store_url, create=False) as s:
        report = s.verify()
        assert report.ok and report.entries == 10
        assert s.trace("durable-9") and not s.trace("buffered-0")


def test_several_writer_processes_keep_one_valid_chain(store_url: str) -> None:
    writers, per_writer = 4, 400
    open_store(store_url).close()  # the schema exists before the race starts
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(writers)
    procs = [
        ctx.Process(target=writer_process, args=(store_url, w, per_writer, 9 + w, start))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_store(store_url, create=False) as s:
        report = s.verify()
        assert report.ok, report.problem
        assert report.entries == writers * per_writer
        spans = []
        for w in range(writers):
            mine = s.trace(f"writer-{w}")
            assert [e.details["i"] for e in mine] == list(range(per_writer))
            spans.append((mine[0].time, mine[-1].time))
    # They really ran at once: some instant lies inside every writer's span of appends.
    assert max(first for first, _ in spans) < min(last for _, last in spans)


def test_first_open_by_several_processes_at_once(store_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(3)
    procs = [ctx.Process(target=writer_process, args=(store_url, w, 5, 2, start)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with open_store(store_url, create=False) as s:
        report = s.verify()
        assert report.ok and report.entries == 15


# -- a write that fails keeps its entries for the next flush (one way to break each) --


def test_sqlite_failed_flush_keeps_entries(sqlite_url: str) -> None:
    import sqlite3

    from exchange.audit.sqlite import SqliteStore
    from exchange.audit.url import SqliteTarget, parse_audit_url

    target = parse_audit_url(sqlite_url)
    assert isinstance(target, SqliteTarget) and target.path is not None
    store = SqliteStore(target.path, busy_timeout=0.05)
    store.append_many(sample(i, message_id="m") for i in range(3))
    blocker = sqlite3.connect(target.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock too long
    with pytest.raises(StoreUnavailable, match="locked"):
        store.flush()
    assert store.pending == 3
    blocker.execute("ROLLBACK")
    blocker.close()
    store.append(sample(3, message_id="m"))
    store.close()
    with open_store(sqlite_url, create=False) as s:
        assert [e.details["i"] for e in s.trace("m")] == [0, 1, 2, 3]
        assert s.verify().ok


@pytest.mark.postgres
def test_postgres_failed_flush_keeps_entries_and_reconnects(postgres_url: str) -> None:
    import psycopg

    app = f"audit-test-{os.getpid()}-{id(postgres_url)}"
    url = f"{postgres_url}&application_name={app}"
    store = open_store(url)
    store.append_many(sample(i, message_id="m") for i in range(3))
    with psycopg.connect(postgres_url.split("?")[0], autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (app,),
        ).fetchall()
    assert killed == [(True,)]
    with pytest.raises(StoreUnavailable):
        store.flush()
    assert store.pending == 3
    store.append(sample(3, message_id="m"))
    store.flush()  # a new connection
    assert [e.details["i"] for e in store.trace("m")] == [0, 1, 2, 3]
    assert store.verify().ok
    store.close()
