"""Issue 13, finding 3, end to end: messages whose properties break their patterns are
rejected at intake with the reason to mra.rejects and audited; the good ones flow on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pika
import pytest

from exchange.audit import AuditEvent, open_store
from exchange.service.publish import Outgoing, publish_many
from tests.amqp.isolated import World, domestic_messages
from tests.amqp.test_service import acknowledged, wait_until

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

HOSTILE = {
    "ctl": ("props-\x01ctl", {}),
    "formula": ('=HYPERLINK("http://evil.example/")', {}),
    "markup": ("<img src=x onerror=alert(1)>", {}),
    "path": ("../../etc/passwd", {}),
    "header": ("props-bad-header", {"note": "a\x00b"}),
}


def test_bad_properties_are_rejected_with_their_reason_and_the_rest_flows(world: World) -> None:
    sim, _ = world.simulator()
    world.start_service()
    bodies = domestic_messages("props", len(HOSTILE) + 1)
    out = [
        Outgoing("cn.domestic.in", "ccc", body, pika.BasicProperties(message_id=mid, type="ccc", headers=h))
        for (mid, h), (_, body) in zip(HOSTILE.values(), bodies, strict=False)
    ]
    good_id, good_body = bodies[-1]
    out.append(
        Outgoing("cn.domestic.in", "ccc", good_body, pika.BasicProperties(message_id=good_id, type="ccc"))
    )
    assert publish_many(world.url, out).confirmed == len(out)
    wait_until(lambda: world.depth("mra.rejects") == len(HOSTILE), what="the hostile messages rejected")
    wait_until(lambda: len(acknowledged(world, "props")) == 1, what="the good one acknowledged")
    rejects = [(p.message_id, p.headers or {}) for p, _ in world.drain("mra.rejects")]
    assert sorted(h["x-mra-field"] for _, h in rejects) == ["headers", "message_id", "message_id",
                                                              "message_id", "message_id"]  # fmt: skip
    for mid, headers in rejects:
        if headers["x-mra-field"] == "message_id":
            assert mid is None and "does not match" in headers["x-mra-reason"]
        else:
            assert mid == "props-bad-header" and "U+0000" in headers["x-mra-reason"]
            assert "note" not in headers  # the bad header is not carried on
    with open_store(world.audit_url) as store:
        now = datetime.now(UTC)
        rejected = [e for e in store.export(now - timedelta(hours=1), now + timedelta(hours=1))
                    if e.event == AuditEvent.REJECTED]  # fmt: skip
    assert len(rejected) == len(HOSTILE)
    assert all("\x01" not in str(e.details) and "\x00" not in str(e.details) for e in rejected)
    assert sum(sim.stats.received.values()) == 1
    sim.stop()
