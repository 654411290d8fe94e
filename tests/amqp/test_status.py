"""`exchange status`: queue depths by passive declare, rates and ages from the audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from exchange.audit import AuditEntry, AuditEvent, open_store
from exchange.audit.chain import ChainRow
from exchange.audit.entry import format_time
from exchange.service.ops.status import audit_activity, collect_status
from exchange.service.topology import DLX, OUTBOUND, RETRY, dead_queue, retry_key, retry_queue, work_queue
from tests.amqp.conftest import Sandbox
from tests.amqp.helpers import cli, publish

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def entry(
    seq: int, ago_s: float, event: AuditEvent, mid: str | None, partner: str | None = "p", **details: object
) -> ChainRow:
    """A row as AuditStore.scan gives it."""
    t = format_time(NOW - timedelta(seconds=ago_s))
    return ChainRow(seq, t, event.value, mid, None, partner, "service", json.dumps(details), None, "", "")


def test_activity_rates_last_success_and_oldest_pending() -> None:
    E = AuditEvent
    rows = [
        entry(1, 3 * 86400, E.SEND_ENQUEUED, "old-done"),  # pending, then acknowledged
        entry(2, 2 * 86400, E.SEND_ENQUEUED, "stuck"),  # never settled: the oldest
        entry(3, 2 * 86400 - 5, E.ACKNOWLEDGED, "old-done"),
        entry(4, 7200, E.SEND_ENQUEUED, "failed"),
        entry(5, 1800, E.SEND_FAILURE, "failed"),  # failure: one message,
        entry(6, 1800, E.DEAD_LETTERED, "failed"),  # two entries
        entry(7, 1000, E.SEND_ENQUEUED, "a"),
        entry(8, 30, E.SEND_ENQUEUED, "b"),
        entry(9, 20, E.ACKNOWLEDGED_WITH_WARNING, "a"),
        entry(10, 10, E.DEAD_LETTERED, "c", partner=None, queue="mra.p.work"),  # redelivery limit
        entry(11, 10, E.SEND_ENQUEUED, "x", partner="other"),
        entry(12, 5, E.REPLAYED, "failed"),  # pending again
    ]
    act = audit_activity(rows, ["p", "q"], NOW)
    p = act["p"]
    assert (p.published_minute, p.published_hour) == (1, 2)
    assert (p.delivered_minute, p.delivered_hour) == (1, 1)
    assert (p.failed_minute, p.failed_hour) == (1, 2)
    assert p.last_success == NOW - timedelta(seconds=20)
    assert p.oldest_pending == NOW - timedelta(days=2)
    assert act["q"].last_success is None and act["q"].oldest_pending is None
    assert "other" not in act


@pytest.mark.rabbitmq
def test_status_json_reports_depths_and_audit(sandbox: Sandbox) -> None:
    p, pre = sandbox.partner, sandbox.prefix
    publish(sandbox.url, OUTBOUND, p, [(f"{pre}-w{i}", {"attempt": 0}) for i in range(7)])
    publish(sandbox.url, RETRY, retry_key(p, 0), [(f"{pre}-r{i}", {"attempt": 1}) for i in range(2)])
    publish(sandbox.url, DLX, p, [(f"{pre}-d{i}", {"x-mra-reason": "test"}) for i in range(3)])
    with open_store(sandbox.audit_url) as store:
        for i in range(4):
            store.append(AuditEntry(AuditEvent.SEND_ENQUEUED, message_id=f"{pre}-w{i}", partner=p))
        store.append(AuditEntry(AuditEvent.ACKNOWLEDGED, message_id=f"{pre}-w0", partner=p))
        store.append(AuditEntry(AuditEvent.SEND_FAILURE, message_id=f"{pre}-w1", partner=p))

    code, out, err = cli(
        "status",
        "--json",
        "--amqp",
        sandbox.url,
        "--audit",
        sandbox.audit_url,
        "--config",
        str(sandbox.config_path),
    )
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"queues", "partners", "deadLetters"}
    queues = data["queues"]
    assert queues[work_queue(p)] == {"type": "quorum", "depth": 7, "consumers": 0, "exists": True}
    assert queues[retry_queue(p, 0)]["depth"] == 2
    assert queues[dead_queue(p)]["depth"] == 3
    assert {"mra.intake", "mra.intake.dead", "mra.rejects", "bri.feed"} <= set(queues)
    assert queues["bri.feed"]["depth"] is None  # a stream has no ready count
    assert data["deadLetters"]["byQueue"][dead_queue(p)] == 3
    row = data["partners"][p]
    assert set(row) == {
        "health",
        "reason",
        "backlog",
        "deadLetters",
        "lastSuccess",
        "oldestMessageAgeSeconds",
        "rates",
    }
    assert row["backlog"] == 9 and row["deadLetters"] == 3
    assert row["health"] == "stalled" and row["reason"].startswith(
        f"7 messages in {work_queue(p)} and no consumer"
    )
    assert row["rates"] == {
        "publishedPerMinute": 4,
        "deliveredPerMinute": 1,
        "failedPerMinute": 1,
        "publishedLastHour": 4,
        "deliveredLastHour": 1,
        "failedLastHour": 1,
    }
    assert row["lastSuccess"] is not None and row["lastSuccess"].endswith("Z")
    assert 0 <= row["oldestMessageAgeSeconds"] < 60  # w2 and w3 are still pending

    code, out, _ = cli(
        "status", "--amqp", sandbox.url, "--audit", sandbox.audit_url, "--config", str(sandbox.config_path)
    )
    assert code == 0 and work_queue(p) in out  # the table


@pytest.mark.rabbitmq
def test_status_without_audit_still_shows_queues(sandbox: Sandbox, tmp_path: object) -> None:
    report = collect_status(
        sandbox.config, sandbox.url, lambda: open_store(f"{sandbox.audit_url}.missing", create=False)
    )
    assert report.audit_error is not None
    assert report.as_json()["partners"][sandbox.partner]["rates"] is None
    code, _, err = cli(
        "status",
        "--json",
        "--amqp",
        sandbox.url,
        "--audit",
        f"{sandbox.audit_url}.missing",
        "--config",
        str(sandbox.config_path),
    )
    assert code == 1 and "audit" in err


@pytest.mark.rabbitmq
def test_status_broker_unreachable_exits_2(sandbox: Sandbox) -> None:
    code, out, err = cli(
        "status", "--json", "--amqp", "amqp://guest:secret@127.0.0.1:1/", "--config", str(sandbox.config_path)
    )
    assert code == 2 and out == ""
    assert "cannot reach the broker" in err and "secret" not in err


@pytest.fixture
def audit_url(store_url: str) -> str:
    """A fresh store per back end (tests/db_fixtures.py)."""
    return store_url


def test_scan_gives_only_the_asked_events_in_chain_order(audit_url: str) -> None:
    """AuditStore.scan, which status reads: the back end filters events and times."""
    E = AuditEvent
    with open_store(audit_url) as store:
        for i, event in enumerate([E.RECEIVED, E.SEND_ENQUEUED, E.CONVERTED, E.ACKNOWLEDGED] * 3):
            store.append(AuditEntry(event, message_id=f"m{i // 4}", partner="p"))
        since = datetime.now(UTC) - timedelta(minutes=5)
        rows = list(store.scan(since, None, {E.SEND_ENQUEUED, E.ACKNOWLEDGED}))
        assert [(r.message_id, r.event) for r in rows] == [
            (f"m{i}", e) for i in range(3) for e in ("SEND_ENQUEUED", "ACKNOWLEDGED")
        ]
        assert [r.seq for r in rows] == sorted(r.seq for r in rows)
        exported = {e.seq: format_time(e.time) for e in store.export(since, None)}
        assert all(r.time == exported[r.seq] for r in rows)  # the chain's text form
        assert list(store.scan(since, None, ())) == []
        assert len(list(store.scan(None))) == 12
        assert list(store.scan(datetime.now(UTC) + timedelta(minutes=1), None, {E.RECEIVED})) == []
        act = audit_activity(
            store.scan(since, None, {E.SEND_ENQUEUED, E.ACKNOWLEDGED}), ["p"], datetime.now(UTC)
        )
        assert act["p"].published_hour == 3 and act["p"].delivered_hour == 3
        assert act["p"].oldest_pending is None and act["p"].last_success is not None
