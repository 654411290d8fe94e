"""`exchange audit purge --before DATE`: old entries and archived documents go, what is kept
still verifies from where it now starts, and a kept record's trace is whole; on both back ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from exchange.archive import Archived, DocumentArchive, Kind
from exchange.audit import AuditEntry, AuditEvent, open_store
from exchange.audit.cli import app
from exchange.audit.verify import ProblemKind

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
STEPS = (AuditEvent.RECEIVED, AuditEvent.VALIDATED, AuditEvent.SEND_ENQUEUED, AuditEvent.ACKNOWLEDGED)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"EXCHANGE_AUDIT_URL": None}).invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def _fill(url: str) -> None:
    """Record old-1 on 1 March, record new-1 on 3 March: four steps each."""
    with open_store(url) as store:
        for day, rid in ((0, "old-1"), (2, "new-1")):
            for i, event in enumerate(STEPS):
                at = T0 + timedelta(days=day, minutes=i)
                store.append(
                    AuditEntry(event, message_id=f"m-{rid}", record_id=rid, partner="kr"),
                    at_us=int(at.timestamp() * 1e6),
                )


def test_purge_keeps_a_verifiable_chain_and_whole_traces_of_kept_records(store_url: str) -> None:
    _fill(store_url)
    archive = DocumentArchive(store_url)
    try:
        archive.put_many([Archived("kr", "m-old-1", Kind.DOCUMENT, "a" * 64, "application/xml", b"<a/>")])
    finally:
        archive.close()

    code, out = run("purge", "--before", "2026-03-02", "--audit", store_url)
    assert code == 0, out
    assert "purged 4 entries" in out and "the kept chain starts at entry 5" in out

    code, out = run("verify", "--audit", store_url)
    assert code == 0, out
    code, out = run("trace", "new-1", "--audit", store_url)
    assert code == 0 and all(e.value in out for e in STEPS), out
    code, out = run("trace", "old-1", "--audit", store_url)
    assert "RECEIVED" not in out

    with open_store(store_url) as store:  # appends go on linking to the kept chain
        store.append(AuditEntry(AuditEvent.RECEIVED, message_id="m-after", record_id="after-1"))
        store.flush()
        report = store.verify()
        assert report.ok and report.entries == 5 and report.head_seq == 9

    code, out = run("purge", "--before", "2100-01-01", "--audit", store_url)  # all but the head
    assert code == 0 and "purged 4 entries and 1 archived documents" in out, out
    code, out = run("verify", "--audit", store_url)
    assert code == 0, out


def test_a_purge_that_left_a_gap_is_still_caught(store_url: str) -> None:
    """The start is recorded: deleting more than the purge did is a break, not a new start."""
    _fill(store_url)
    with open_store(store_url) as store:
        store.purge(datetime(2026, 3, 2, tzinfo=UTC))
        assert store.chain_start() is not None
        start = store.chain_start()
        assert start is not None and start[0] == 5
        # what verify would see if entry 5 went too: the walk expects entry 5 first
        from exchange.audit.verify import verify_rows

        rows = [r for r in store._iter_rows() if r.seq != 5]
        report = verify_rows(rows, lambda h: None, start=start)
        assert not report.ok and report.problem is not None
        assert report.problem.kind in (ProblemKind.MISSING, ProblemKind.INSERTED, ProblemKind.CHANGED)
