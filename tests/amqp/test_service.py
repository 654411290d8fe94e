"""The service against the real RabbitMQ: the whole path both ways, and the faults.
Each fault test states its counts: sent, delivered once, dead-lettered with reason,
lost = 0, duplicates = 0."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from exchange.audit import AuditEvent, open_store
from exchange.transports.amqp.simulator import Mode, PartnerSimulator
from tests.amqp.isolated import World, ctl, domestic_messages, publish_domestic

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


def events(w: World, partner: str | None = None) -> Counter[tuple[str, str]]:
    """(message id, event) -> how many times, from the audit store."""
    with open_store(w.audit_url) as store:
        since = datetime.now(UTC) - timedelta(hours=1)
        until = datetime.now(UTC) + timedelta(hours=1)
        return Counter((e.message_id or "", str(e.event)) for e in store.export(since, until, partner))


def acknowledged(w: World, prefix: str) -> Counter[str]:
    return Counter(
        mid
        for (mid, ev), n in events(w, "kr").items()
        for _ in range(n)
        if ev == AuditEvent.ACKNOWLEDGED and mid.startswith(prefix)
    )


def wait_until(predicate, timeout: float = 60, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def counts(w: World, sim: PartnerSimulator, prefix: str, sent: int) -> dict[str, int]:
    acks = acknowledged(w, prefix)
    return {
        "sent": sent,
        "delivered_once": sum(1 for n in acks.values() if n == 1),
        "lost": sent - len(acks),
        "duplicates_at_partner": sim.stats.duplicates,
        "double_acknowledged": sum(1 for n in acks.values() if n > 1),
    }


def test_domestic_records_reach_the_partner_once_and_are_acknowledged(world: World) -> None:
    sim, _ = world.simulator()
    world.start_service()
    sent = publish_domestic(world.url, domestic_messages("e2e", 50))
    wait_until(lambda: len(acknowledged(world, "e2e")) == sent, what="50 ACKNOWLEDGED")
    result = counts(world, sim, "e2e", sent)
    assert result == {
        "sent": 50,
        "delivered_once": 50,
        "lost": 0,
        "duplicates_at_partner": 0,
        "double_acknowledged": 0,
    }
    trail = events(world, "kr")
    for event in (
        "CONVERTED",
        "VALIDATED",
        "SEND_ENQUEUED",
        "SEND_IN_PROGRESS",
        "WAITING_FOR_RECEIPT",
        "ACKNOWLEDGED",
    ):
        assert trail[("e2e-7", event)] == 1, event
    sim.stop()


def test_connections_closed_mid_stream_lose_nothing_and_duplicate_nothing(world: World) -> None:
    sim, _ = world.simulator()
    world.start_service()
    sent = publish_domestic(world.url, domestic_messages("cut", 1500))
    wait_until(lambda: len(acknowledged(world, "cut")) > 100, what="work under way")
    ctl("close_all_connections", "--global", "test: cut mid-stream")
    wait_until(
        lambda: len(acknowledged(world, "cut")) == sent, timeout=120, what="all ACKNOWLEDGED after reconnect"
    )
    time.sleep(1)
    result = counts(world, sim, "cut", sent)
    assert result == {
        "sent": 1500,
        "delivered_once": 1500,
        "lost": 0,
        "duplicates_at_partner": 0,
        "double_acknowledged": 0,
    }
    assert "connection lost" in world.log_text()
    sim.stop()


def test_broker_stopped_and_started_again(world: World) -> None:
    sim, _ = world.simulator()
    world.start_service()
    sent = publish_domestic(world.url, domestic_messages("bounce", 800))
    wait_until(lambda: len(acknowledged(world, "bounce")) > 50, what="work under way")
    try:
        ctl("stop_app")
        time.sleep(2)
    finally:
        ctl("start_app")  # whatever happens, the broker comes back
    ctl("await_startup")
    wait_until(
        lambda: len(acknowledged(world, "bounce")) == sent, timeout=180, what="all ACKNOWLEDGED after restart"
    )
    time.sleep(1)
    result = counts(world, sim, "bounce", sent)
    assert result == {
        "sent": 800,
        "delivered_once": 800,
        "lost": 0,
        "duplicates_at_partner": 0,
        "double_acknowledged": 0,
    }
    sim.stop()


def _dead_letters(w: World, queue: str) -> list[tuple[str, str]]:
    return [(p.message_id, (p.headers or {}).get("x-mra-reason", "")) for p, _ in w.drain(queue)]


def test_a_partner_that_never_acknowledges_ends_in_dead_letters_with_the_reason(world: World) -> None:
    sim, _ = world.simulator(Mode.SILENT)
    world.start_service()
    sent = publish_domestic(world.url, domestic_messages("silent", 5))
    # receipt timeout 2 s, retries after 1 s and 1 s: three attempts, then SEND_FAILURE
    wait_until(lambda: world.depth("mra.kr.dead") == sent, timeout=60, what="dead letters")
    dead = _dead_letters(world, "mra.kr.dead")
    assert sorted(mid for mid, _ in dead) == sorted(f"silent-{i}" for i in range(5))
    assert all("no receipt within 2 s" in reason for _, reason in dead)
    trail = events(world, "kr")
    for i in range(5):
        assert trail[(f"silent-{i}", "SEND_ATTEMPT_FAILED")] == 3
        assert trail[(f"silent-{i}", "WAITING_FOR_RETRY")] == 2
        assert trail[(f"silent-{i}", "SEND_FAILURE")] == 1
        assert trail[(f"silent-{i}", "ACKNOWLEDGED")] == 0
    assert sim.stats.received == Counter(
        {f"silent-{i}": 3 for i in range(5)}
    )  # sent, retried twice, never more
    sim.stop()


def test_a_partner_that_rejects_gets_retries_then_a_dead_letter_with_its_reason(world: World) -> None:
    sim, _ = world.simulator(Mode.REJECT)
    sim.reject_reason = "KC number unknown to KTL"
    world.start_service()
    sent = publish_domestic(world.url, domestic_messages("reject", 4))
    wait_until(lambda: world.depth("mra.kr.dead") == sent, timeout=60, what="dead letters")
    dead = _dead_letters(world, "mra.kr.dead")
    assert {reason for _, reason in dead} == {"KC number unknown to KTL"}
    trail = events(world, "kr")
    assert sum(n for (mid, ev), n in trail.items() if ev == "SEND_ATTEMPT_FAILED") == 4 * 3
    assert sum(n for (mid, ev), n in trail.items() if ev == "DEAD_LETTERED") == 4
    sim.stop()


def test_duplicate_message_ids_from_the_domestic_side(world: World) -> None:
    sim, _ = world.simulator()
    world.start_service()
    messages = domestic_messages("dup", 10)
    publish_domestic(world.url, messages)
    publish_domestic(world.url, messages)  # the domestic system sent them all twice
    changed = [("dup-0", messages[1][1])]  # the same id reused for other content
    publish_domestic(world.url, changed)
    wait_until(lambda: len(acknowledged(world, "dup")) == 10, what="10 ACKNOWLEDGED")
    wait_until(lambda: world.depth("mra.rejects") >= 1, what="the reused id rejected")
    time.sleep(1)
    result = counts(world, sim, "dup", 10)
    assert result == {
        "sent": 10,
        "delivered_once": 10,
        "lost": 0,
        "duplicates_at_partner": 0,
        "double_acknowledged": 0,
    }
    assert sum(sim.stats.received.values()) == 10
    rejects = _dead_letters(world, "mra.rejects")
    assert rejects == [("dup-0", "message id already used for different content")]
    sim.stop()


def test_bad_records_and_unroutable_messages_are_parked_with_their_reason(world: World) -> None:
    world.start_service()
    good = domestic_messages("bad", 1)[0][1]
    broken = json.loads(good)
    broken["issueDate"] = "2019-13-45"
    publish_domestic(world.url, [("bad-date", json.dumps(broken).encode()), ("bad-json", b"{not json")])
    wait_until(lambda: world.depth("mra.rejects") == 2, what="two rejects")
    rejects = dict(_dead_letters(world, "mra.rejects"))
    assert "issueDate" in rejects["bad-date"] or "2019-13-45" in rejects["bad-date"]
    assert rejects["bad-json"]
    import pika

    from exchange.service.publish import Outgoing, publish_many

    report = publish_many(
        world.url, [Outgoing("cn.domestic.in", "nonsense", good, pika.BasicProperties(message_id="bad-key"))]
    )
    assert report.confirmed == 0 and report.failed[0][0] == "bad-key" and "unroutable" in report.failed[0][1]
    trail = events(world)
    assert trail[("bad-date", "REJECTED")] == 1 and trail[("bad-json", "REJECTED")] == 1


def test_two_workers_share_the_work_without_duplicates(world: World) -> None:
    sim, _ = world.simulator()
    world.start_service()
    world.start_service()
    sent = publish_domestic(world.url, domestic_messages("pair", 1000))
    wait_until(lambda: len(acknowledged(world, "pair")) == sent, timeout=120, what="all ACKNOWLEDGED")
    time.sleep(1)
    result = counts(world, sim, "pair", sent)
    assert result == {
        "sent": 1000,
        "delivered_once": 1000,
        "lost": 0,
        "duplicates_at_partner": 0,
        "double_acknowledged": 0,
    }
    sim.stop()


def test_sigterm_finishes_in_flight_work_and_closes_cleanly(world: World) -> None:
    sim, _ = world.simulator()
    proc = world.start_service()
    sent = publish_domestic(world.url, domestic_messages("term", 600))
    wait_until(lambda: len(acknowledged(world, "term")) > 20, what="work under way")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0
    assert "stopped" in world.log_text()
    world.start_service()  # what was not taken yet is still in the queues
    wait_until(lambda: len(acknowledged(world, "term")) == sent, timeout=120, what="all ACKNOWLEDGED")
    time.sleep(1)
    result = counts(world, sim, "term", sent)
    assert result == {
        "sent": 600,
        "delivered_once": 600,
        "lost": 0,
        "duplicates_at_partner": 0,
        "double_acknowledged": 0,
    }
    sim.stop()


def _feed(w: World, expected: int, timeout: float = 10) -> list[tuple[object, bytes]]:
    """Read the bri.feed stream from its first offset."""
    conn, ch = w.channel()
    got: list[tuple[object, bytes]] = []
    try:
        ch.basic_qos(prefetch_count=100)
        deadline = time.monotonic() + timeout
        for method, props, body in ch.consume(
            "bri.feed", arguments={"x-stream-offset": "first"}, inactivity_timeout=1
        ):
            if method is not None:
                got.append((props, body))
                ch.basic_ack(method.delivery_tag)
            if len(got) >= expected or time.monotonic() > deadline:
                break
    finally:
        conn.close()
    return got


def test_a_new_user_publishes_the_samples_and_sees_them_acknowledged(world: World) -> None:
    """simulate-partner kr + exchange run, then `exchange publish` of the sample exports."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.amqp.isolated import _bri_available

    samples = Path(__file__).resolve().parents[2] / "samples"
    sim, _ = world.simulator()
    world.start_service()
    files = [samples / n for n in ("ccc.jsonl", "ccc-export-gb18030.csv", "glp.json", "pt-round.json")]
    out = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "publish", *map(str, files)],
        env=world.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "published 7 of 7 records" in out.stderr
    # kr takes the certificates (all E&E) and the PT round; not GLP; one CSV row is invalid,
    # and the CSV's copy of 2019010907123456 is a stale version (its status changed before
    # the JSON Lines copy's, which came first): parked, not delivered over it (docs/versions.md)
    wait_until(lambda: sum(acknowledged(world, "").values()) == 4, what="4 ACKNOWLEDGED for kr")
    time.sleep(1)
    assert set(acknowledged(world, "").values()) == {1}
    assert sim.stats.duplicates == 0 and sim.stats.invalid == 0
    trace = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "audit", "trace", "2018010901987654", "--json"],
        env=world.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in trace.stdout.splitlines()]
    kr_events = [e["event"] for e in lines if e.get("partner") == "kr"]
    assert kr_events[-1] == "ACKNOWLEDGED" and kr_events.count("ACKNOWLEDGED") == 1
    rejected = [e for e in events(world).items() if e[0][1] == "REJECTED"]
    assert len(rejected) == 2  # the CSV row with a 15-digit certificate number, the stale version
    stale = [p.headers for p, _ in world.drain("mra.rejects") if p.headers.get("x-mra-field") == "version"]
    assert len(stale) == 1 and "ccc-2019010907123456 version 2" in stale[0]["x-mra-reason"]
    if _bri_available():
        feed = _feed(world, 5)
        assert len(feed) == 5  # 3 certificates (one stale version not), the GLP statement, the PT round
        profiles = Counter(json.loads(body)["credentialSchema"]["id"] for _, body in feed)
        assert profiles == Counter(
            {
                "urn:mra-exchange:bri:ccc:1.1": 3,
                "urn:mra-exchange:bri:glp:1.1": 1,
                "urn:mra-exchange:bri:pt:1.1": 1,
            }
        )
        # each the first version of its record, numbered in the credential (docs/versions.md)
        assert [json.loads(body)["recordVersion"] for _, body in feed] == [1] * 5
    sim.stop()


def test_a_poison_message_is_dead_lettered_with_its_reason_and_never_loops(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record that crashes the worker (a bug, not bad input) is retried up to the
    delivery limit, then parked on mra.intake.dead with the exception as its reason."""
    import threading

    from exchange.config import load_config
    from exchange.pipeline import Converter
    from exchange.service.service import Service, ServiceOptions
    from exchange.service.settings import AmqpSettings
    from exchange.state import StateStore

    real = Converter.convert

    def convert(self, accepted, only=None, version=None):  # type: ignore[no-untyped-def]
        if accepted.record.record_id.endswith("000666"):
            raise ZeroDivisionError("simulated bug in a mapping")
        return real(self, accepted, only, version)

    monkeypatch.setattr(Converter, "convert", convert)
    store = open_store(world.audit_url)
    state = StateStore(world.audit_url)
    service = Service(
        load_config(world.config_path),
        store,
        state,
        AmqpSettings(url=world.url, receipt_timeout_s=2, convert_workers=0),  # the patch lives here
        ServiceOptions(deliveries=False, inbound=False),
    )
    thread = threading.Thread(target=service.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        messages = domestic_messages("poison", 700)[660:670]  # certificate ...000666 among them
        publish_domestic(world.url, messages)
        wait_until(lambda: world.depth("mra.intake.dead") == 1, timeout=60, what="the poison dead-lettered")
        wait_until(lambda: world.depth("mra.kr.work") == 9, timeout=30, what="the nine others converted")
        time.sleep(1)
        assert world.depth("mra.intake") == 0  # nothing loops
    finally:
        service.request_stop()
        thread.join(timeout=30)
        store.close()
        state.close()
    (dead,) = _dead_letters(world, "mra.intake.dead")
    assert dead == ("poison-666", "processing failed: ZeroDivisionError: simulated bug in a mapping")
    trail = events(world)
    assert trail[("poison-666", "DEAD_LETTERED")] == 1
    assert trail[("poison-666", "RECEIVED")] == 5  # the delivery limit: five tries, then parked
