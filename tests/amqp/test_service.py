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

from exchange.amqp.simulator import Mode, PartnerSimulator
from exchange.audit import AuditEvent, open_store
from tests.amqp.isolated import World, ctl, domestic_messages, publish_domestic, vhosts, world  # noqa: F401

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


def events(w: World, partner: str | None = None) -> Counter[tuple[str, str]]:
    """(message id, event) -> how many times, from the audit store."""
    with open_store(w.audit_url) as store:
        since = datetime.now(UTC) - timedelta(hours=1)
        until = datetime.now(UTC) + timedelta(hours=1)
        return Counter(
            (e.message_id or "", str(e.event))
            for e in store.export(since, until, partner)
        )


def acknowledged(w: World, prefix: str) -> Counter[str]:
    return Counter(mid for (mid, ev), n in events(w, "kr").items() for _ in range(n)
                   if ev == AuditEvent.ACKNOWLEDGED and mid.startswith(prefix))


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
    assert result == {"sent": 50, "delivered_once": 50, "lost": 0, "duplicates_at_partner": 0, "double_acknowledged": 0}
    trail = events(world, "kr")
    for event in ("CONVERTED", "VALIDATED", "SEND_ENQUEUED", "SEND_IN_PROGRESS", "WAITING_FOR_RECEIPT", "ACKNOWLEDGED"):
        assert trail[("e2e-7", event)] == 1, event
    sim.stop()
