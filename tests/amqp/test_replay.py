"""`exchange replay`: chosen dead letters back to the work queue, the others kept,
audited REPLAYED with the operator, delivery state reset."""

from __future__ import annotations

import hashlib
import json

import pytest

from exchange.audit import AuditEvent, open_store
from exchange.service.ops.replay import ReplayRequest, replay_dead_letters
from exchange.service.topology import DLX, dead_queue, work_queue
from exchange.state import Delivery, State, StateStore
from tests.amqp.conftest import Sandbox, connect, drain
from tests.amqp.helpers import cli, publish

pytestmark = pytest.mark.rabbitmq


def sha(mid: str) -> str:
    return hashlib.sha256(mid.encode()).hexdigest()


def dead_letters(sandbox: Sandbox, n: int) -> list[str]:
    """n dead letters as the delivery worker leaves them, their state FAILED."""
    p, pre = sandbox.partner, sandbox.prefix
    ids = [f"{pre}-{i}" for i in range(n)]
    publish(
        sandbox.url,
        DLX,
        p,
        [
            (
                mid,
                {
                    "partner": p,
                    "record-id": f"R-{i}",
                    "sha256": sha(mid),
                    "attempt": 4,
                    "x-mra-reason": f"rejected by the partner: bad {i}",
                    "x-mra-from": work_queue(p),
                },
            )
            for i, mid in enumerate(ids)
        ],
    )
    state = StateStore(sandbox.audit_url)
    state.put_many([Delivery(p, mid, sha(mid), 4, State.FAILED) for mid in ids])
    state.close()
    return ids


def test_replay_moves_exactly_the_chosen_ones(sandbox: Sandbox) -> None:
    p = sandbox.partner
    ids = dead_letters(sandbox, 5)
    code, out, err = cli(
        "replay",
        "--partner",
        p,
        "--id",
        ids[1],
        "--id",
        ids[3],
        "--operator",
        "alice",
        "--amqp",
        sandbox.url,
        "--audit",
        sandbox.audit_url,
        "--config",
        str(sandbox.config_path),
    )
    assert code == 0, err
    assert f"replayed {ids[1]} record R-1: was dead for: rejected by the partner: bad 1" in out
    assert "5 dead letters examined, 2 replayed" in err

    work = drain(sandbox.url, work_queue(p))
    assert [pr.message_id for pr, _ in work] == [ids[1], ids[3]]
    for pr, body in work:
        h = pr.headers
        assert h["attempt"] == 0 and h["x-mra-replayed-by"] == "alice"
        assert "x-mra-reason" not in h and "x-mra-from" not in h
        assert h.get("x-delivery-count", 0) == 0  # the broker's own count, started afresh
        assert h["record-id"] in ("R-1", "R-3") and h["sha256"] == sha(pr.message_id)
        assert json.loads(body) == {"id": pr.message_id}
        assert pr.delivery_mode == 2
    kept = drain(sandbox.url, dead_queue(p))
    assert [pr.message_id for pr, _ in kept] == [ids[0], ids[2], ids[4]]  # order kept
    for i, (pr, _) in zip((0, 2, 4), kept, strict=True):
        assert pr.headers["x-mra-reason"] == f"rejected by the partner: bad {i}"
        assert pr.headers["attempt"] == 4 and pr.headers.get("x-delivery-count", 0) == 0

    with open_store(sandbox.audit_url) as store:
        trail = store.trace(ids[1])
        assert [e.event for e in trail] == [AuditEvent.REPLAYED]
        e = trail[0]
        assert e.actor == "alice" and e.partner == p and e.record_id == "R-1"
        assert e.details["reason"] == "rejected by the partner: bad 1"
        assert e.doc_sha256 == sha(ids[1])
        assert store.trace(ids[0]) == []
    state = StateStore(sandbox.audit_url)
    rows = state.get_many(p, ids)
    state.close()
    assert {m: (r.state, r.attempt) for m, r in rows.items()} == {
        ids[0]: (State.FAILED, 4),
        ids[1]: (State.REJECTED, 0),
        ids[2]: (State.FAILED, 4),
        ids[3]: (State.REJECTED, 0),
        ids[4]: (State.FAILED, 4),
    }


def test_unknown_id_exits_1_and_keeps_everything(sandbox: Sandbox) -> None:
    p = sandbox.partner
    ids = dead_letters(sandbox, 3)
    code, out, err = cli(
        "replay",
        "--partner",
        p,
        "--id",
        f"{sandbox.prefix}-nope",
        "--amqp",
        sandbox.url,
        "--audit",
        sandbox.audit_url,
        "--config",
        str(sandbox.config_path),
    )
    assert code == 1 and out == ""
    assert f"{sandbox.prefix}-nope" in err
    assert drain(sandbox.url, work_queue(p)) == []
    assert [pr.message_id for pr, _ in drain(sandbox.url, dead_queue(p))] == ids


def test_rounds_smaller_than_the_queue_lose_nothing(sandbox: Sandbox) -> None:
    """A window of 2 over 7 dead letters: four rounds, qos shrunk for the last."""
    p = sandbox.partner
    ids = dead_letters(sandbox, 7)
    chosen = {ids[0], ids[4], ids[6]}
    audit = open_store(sandbox.audit_url)
    state = StateStore(sandbox.audit_url)
    try:
        report = replay_dead_letters(sandbox.url, ReplayRequest(p, frozenset(chosen), window=2), audit, state)
    finally:
        audit.close()
        state.close()
    assert report.error is None and not report.failed and not report.missing
    assert (report.examined, len(report.replayed), report.kept) == (7, 3, 4)
    assert [pr.message_id for pr, _ in drain(sandbox.url, work_queue(p))] == [ids[0], ids[4], ids[6]]
    assert [pr.message_id for pr, _ in drain(sandbox.url, dead_queue(p))] == [ids[1], ids[2], ids[3], ids[5]]


def test_replay_all_of_a_broker_dead_letter(sandbox: Sandbox) -> None:
    """Dead-lettered by the broker (rejected from the work queue): the reason comes from
    x-death, which the replayed copy no longer carries."""
    p = sandbox.partner
    mid = f"{sandbox.prefix}-b"
    publish(sandbox.url, "mra.outbound", p, [(mid, {"attempt": 2, "sha256": sha(mid)})])
    conn = connect(sandbox.url)
    ch = conn.channel()
    method, _, _ = ch.basic_get(work_queue(p))
    assert method is not None and method.delivery_tag is not None
    ch.basic_reject(method.delivery_tag, requeue=False)
    conn.close()
    code, out, err = cli(
        "replay",
        "--partner",
        p,
        "--all",
        "--amqp",
        sandbox.url,
        "--audit",
        sandbox.audit_url,
        "--config",
        str(sandbox.config_path),
    )
    assert code == 0, err
    assert f"was dead for: rejected by the broker from {work_queue(p)}" in out
    ((pr, _),) = drain(sandbox.url, work_queue(p))
    assert pr.message_id == mid and "x-death" not in pr.headers and pr.headers["attempt"] == 0
    assert drain(sandbox.url, dead_queue(p)) == []


def test_usage_errors_exit_2(sandbox: Sandbox) -> None:
    base = ("--amqp", sandbox.url, "--audit", sandbox.audit_url, "--config", str(sandbox.config_path))
    assert cli("replay", "--partner", sandbox.partner, *base)[0] == 2  # neither --id nor --all
    assert cli("replay", "--partner", sandbox.partner, "--all", "--id", "x", *base)[0] == 2
    code, _, err = cli("replay", "--partner", "nobody", "--all", *base)
    assert code == 2 and "unknown partner" in err
    code, _, err = cli(
        "replay",
        "--partner",
        sandbox.partner,
        "--all",
        "--amqp",
        "amqp://guest:guest@127.0.0.1:1/",
        "--audit",
        sandbox.audit_url,
        "--config",
        str(sandbox.config_path),
    )
    assert code == 2 and "cannot reach the broker" in err


def test_unroutable_replay_keeps_the_dead_letter(sandbox: Sandbox) -> None:
    """No work queue to take it: the publish is returned, so the dead letter is not acked."""
    p = sandbox.partner
    ids = dead_letters(sandbox, 3)
    conn = connect(sandbox.url)
    conn.channel().queue_delete(work_queue(p))
    conn.close()
    code, _, err = cli(
        "replay",
        "--partner",
        p,
        "--id",
        ids[1],
        "--amqp",
        sandbox.url,
        "--audit",
        sandbox.audit_url,
        "--config",
        str(sandbox.config_path),
    )
    assert code == 2 and "unroutable" in err
    assert sorted(pr.message_id for pr, _ in drain(sandbox.url, dead_queue(p))) == ids
    with open_store(sandbox.audit_url) as store:
        assert store.trace(ids[1]) == []  # nothing moved, nothing audited


def test_another_consumer_on_the_dead_queue_refuses_the_replay(sandbox: Sandbox) -> None:
    p = sandbox.partner
    ids = dead_letters(sandbox, 2)
    conn = connect(sandbox.url)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1)
    ch.basic_consume(dead_queue(p), lambda *a: None)
    try:
        code, _, err = cli(
            "replay",
            "--partner",
            p,
            "--all",
            "--amqp",
            sandbox.url,
            "--audit",
            sandbox.audit_url,
            "--config",
            str(sandbox.config_path),
        )
    finally:
        conn.close()
    assert code == 2 and "consumed by someone else" in err
    assert sorted(pr.message_id for pr, _ in drain(sandbox.url, dead_queue(p))) == ids
