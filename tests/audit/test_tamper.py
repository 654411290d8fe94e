"""Tampering behind the store's back: `verify` must catch each kind and name the entry.

Each test fills a real store with 10 entries, changes the table with raw SQL (triggers
disabled, as an intruder with database rights would), and checks the verdict.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from exchange.audit import GENESIS, Checkpoint, ProblemKind, VerifyReport, open_store
from exchange.audit.chain import link_hash
from tests.audit.helpers import Raw, fill, forged

N = 10


@pytest.fixture
def raw(store_url: str) -> Iterator[Raw]:
    fill(store_url, N)
    r = Raw(store_url)
    with r.unguarded():
        yield r
    r.close()


def verify(url: str, checkpoint: Checkpoint | None = None) -> VerifyReport:
    with open_store(url, create=False) as store:
        return store.verify(checkpoint)


def expect(url: str, kind: ProblemKind, seq: int) -> str:
    report = verify(url)
    assert report.problem is not None, "tampering went unnoticed"
    assert (report.problem.kind, report.problem.seq) == (kind, seq), report.problem
    return report.problem.detail


def test_untouched_chain_is_intact(raw: Raw, store_url: str) -> None:
    report = verify(store_url)
    assert report.ok and report.entries == N


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("details", '{"i":4,"note":"rewritten"}'),
        ("event", "REJECTED"),
        ("partner", "us"),
        ("actor", "operator:mallory"),
        ("message_id", None),
        ("doc_sha256", "0" * 64),
        ("hash", "f" * 64),
    ],
)
def test_changed_field(raw: Raw, store_url: str, column: str, value: str | None) -> None:
    raw.tamper(4, column, value)
    expect(store_url, ProblemKind.CHANGED, 4)


def test_changed_time(raw: Raw, store_url: str) -> None:
    raw.tamper(4, "time", "2020-01-01T00:00:00.000000Z")
    expect(store_url, ProblemKind.CHANGED, 4)


def test_changed_prev_hash(raw: Raw, store_url: str) -> None:
    raw.tamper(4, "prev_hash", "a" * 64)
    assert "prev_hash" in expect(store_url, ProblemKind.CHANGED, 4)


def test_deleted_entry(raw: Raw, store_url: str) -> None:
    raw.run("DELETE FROM {t} WHERE seq = 4")
    assert "entry 4 is gone" in expect(store_url, ProblemKind.MISSING, 4)


def test_deleted_run_of_entries(raw: Raw, store_url: str) -> None:
    raw.run("DELETE FROM {t} WHERE seq BETWEEN 4 AND 6")
    assert "entries 4..6 are gone" in expect(store_url, ProblemKind.MISSING, 4)


def test_deleted_first_entry(raw: Raw, store_url: str) -> None:
    raw.run("DELETE FROM {t} WHERE seq = 1")
    expect(store_url, ProblemKind.MISSING, 1)


def test_deleted_entries_with_the_rest_renumbered(raw: Raw, store_url: str) -> None:
    raw.run("DELETE FROM {t} WHERE seq IN (4, 5)")
    raw.renumber_from(6, -2)
    expect(store_url, ProblemKind.MISSING, 4)


@pytest.mark.parametrize(("a", "b"), [(3, 7), (4, 5), (1, 2)])
def test_swapped_entries(raw: Raw, store_url: str, a: int, b: int) -> None:
    raw.swap(a, b)
    expect(store_url, ProblemKind.REORDERED, a)


def test_inserted_forgery_with_correct_hash(raw: Raw, store_url: str) -> None:
    rows = raw.rows()
    raw.renumber_from(5, +1)
    raw.insert(forged(5, prev_hash=rows[3].hash, time=rows[3].time))
    detail = expect(store_url, ProblemKind.INSERTED, 5)
    assert detail == "entry 5 is not in the chain: entry 6 links to entry 4"


def test_inserted_forgery_with_made_up_link(raw: Raw, store_url: str) -> None:
    rows = raw.rows()
    raw.renumber_from(5, +1)
    raw.insert(forged(5, prev_hash="e" * 64, time=rows[3].time))
    expect(store_url, ProblemKind.INSERTED, 5)


def test_appended_forgery_with_a_wrong_hash(raw: Raw, store_url: str) -> None:
    rows = raw.rows()
    bad = forged(N + 1, prev_hash=rows[-1].hash, time=rows[-1].time)
    raw.insert(bad._replace(hash="1" * 64))
    expect(store_url, ProblemKind.CHANGED, N + 1)


def test_truncated_tail_is_caught_only_against_a_checkpoint(raw: Raw, store_url: str) -> None:
    head = raw.rows()[-1]
    cp = Checkpoint(head.seq, head.hash, datetime.now(UTC), store_url)
    assert verify(store_url, cp).ok
    raw.run("DELETE FROM {t} WHERE seq > 7")
    assert verify(store_url).ok  # a shorter chain is still a valid chain
    report = verify(store_url, cp)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (ProblemKind.TRUNCATED, 8)


def test_truncated_and_regrown_tail_against_a_checkpoint(raw: Raw, store_url: str) -> None:
    head = raw.rows()[-1]
    cp = Checkpoint(head.seq, head.hash, datetime.now(UTC), store_url)
    raw.run("DELETE FROM {t} WHERE seq > 7")
    fill(store_url, 5)  # new legitimate-looking entries past the old head
    report = verify(store_url, cp)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (ProblemKind.CHANGED, N)


def test_whole_chain_rewritten_is_caught_against_a_checkpoint(raw: Raw, store_url: str) -> None:
    rows = raw.rows()
    cp = Checkpoint(rows[-1].seq, rows[-1].hash, datetime.now(UTC), store_url)
    # Someone who knows the scheme edits entry 2 and recomputes every hash after it.
    raw.run("DELETE FROM {t}")
    prev = GENESIS
    for row in rows:
        if row.seq == 2:
            row = row._replace(details='{"i":2,"note":"nothing happened"}')
        row = row._replace(prev_hash=prev, hash=link_hash(row.body(), prev, row.seq))
        raw.insert(row)
        prev = row.hash
    assert verify(store_url).ok
    report = verify(store_url, cp)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (ProblemKind.CHANGED, N)


def test_tampered_entries_can_still_be_traced(raw: Raw, store_url: str) -> None:
    raw.tamper(5, "event", "HACKED")
    raw.tamper(5, "doc_sha256", "nope")
    with open_store(store_url, create=False) as store:
        (entry,) = store.trace("msg-4")
        assert (entry.event, entry.doc_sha256) == ("HACKED", "nope")
        assert [e.seq for e in store.export(None, None)] == list(range(1, N + 1))
    expect(store_url, ProblemKind.CHANGED, 5)


def test_a_shared_name_rewritten_is_caught_at_its_first_use(raw: Raw, store_url: str) -> None:
    """Names are stored once and shared: rewriting one changes every entry that uses it."""
    first = next(r for r in raw.rows() if r.event == "SEND_IN_PROGRESS")
    raw.run("UPDATE {s}audit_names SET name = 'ACKNOWLEDGED' WHERE name = 'SEND_IN_PROGRESS'")
    expect(store_url, ProblemKind.CHANGED, first.seq)


def test_a_record_reference_rewritten_is_caught(raw: Raw, store_url: str) -> None:
    raw.run("UPDATE {s}audit_refs SET record_id = 'CCC-other' WHERE message_id = 'msg-6'")
    expect(store_url, ProblemKind.CHANGED, 7)


def test_a_record_reference_deleted_is_caught(raw: Raw, store_url: str) -> None:
    raw.run("DELETE FROM {s}audit_refs WHERE message_id = 'msg-2'")
    expect(store_url, ProblemKind.CHANGED, 3)


def test_a_digest_stored_as_text_does_not_decode_to_its_hex(raw: Raw, store_url: str) -> None:
    raw.run("UPDATE {t} SET hash = ? WHERE seq = 4", b"x" * 32)
    expect(store_url, ProblemKind.CHANGED, 4)
