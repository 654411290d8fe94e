"""Versions in `exchange run` (issue 14), against the real RabbitMQ: one certificate in
several messages, across a restart of the service, is versions 1, 2, ... of one record;
the partner receives them in order, each with its number in the document (recordVersion,
format 1.2); an older status change arriving after a newer one is not delivered over it
but parked on mra.rejects naming both versions, and audited; a version lacking fields the
previous one carried is named in a warning (log and audit); the same message again stays
a duplicate, not a new version."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from lxml import etree

from exchange.audit import AuditEvent, open_store
from exchange.config import load_config
from exchange.registry import partner_format
from exchange.service.settings import with_user, with_vhost
from exchange.transports.amqp.simulator import Mode, PartnerSimulator
from tests.amqp.isolated import World, domestic_messages, publish_domestic
from tests.amqp.test_service import wait_until

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

CERT = "2019010907000000"


class Recording(PartnerSimulator):
    """The KR simulator, keeping every document it received, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.documents: list[tuple[str, bytes]] = []

    def _on_message(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        self.documents.append((props.message_id or "", body))
        super()._on_message(ch, method, props, body)


def recording(w: World) -> Recording:
    url = with_user(with_vhost(w.url, w.kr.vhost), w.kr.user, w.kr_password)
    sim = Recording(url, w.kr, partner_format(load_config(w.config_path).partners["kr"]), Mode.ACK)
    threading.Thread(target=sim.run, daemon=True).start()
    return sim


def version_of(body: bytes) -> str | None:
    return etree.fromstring(body).get("recordVersion")


def trail(w: World, mid: str) -> list[tuple[str, dict[str, Any]]]:
    with open_store(w.audit_url) as store:
        return [(str(e.event), dict(e.details)) for e in store.trace(mid)]


def test_versions_across_messages_and_restarts(world: World) -> None:
    base = json.loads(domestic_messages("v", 1)[0][1])  # certificate CERT, history 2021-05-06
    first = {**base, "history": [{"date": "2021-05-06", "status": "有效", "reason": "型号增加"}]}
    second = {
        **base,
        "history": [*first["history"], {"date": "2022-02-02", "status": "有效", "reason": "换证"}],
    }
    lean = {k: v for k, v in second.items() if k != "testReports"}
    lean["history"] = [*second["history"], {"date": "2023-03-03", "status": "有效", "reason": "地址变更"}]
    stale = {**base, "history": [{"date": "2020-01-01", "status": "有效", "reason": "旧"}]}
    assert base["certNo"] == CERT

    def body(record: dict[str, Any]) -> bytes:
        return json.dumps(record, ensure_ascii=False).encode()

    sim = recording(world)
    proc = world.start_service()
    publish_domestic(world.url, [("v-1", body(first))])
    wait_until(lambda: len(sim.documents) == 1, what="version 1 at the partner")
    publish_domestic(world.url, [("v-2", body(second))])
    wait_until(lambda: len(sim.documents) == 2, what="version 2 at the partner")
    proc.terminate()
    proc.wait(timeout=60)

    world.start_service()  # another run: the numbering goes on from the database
    publish_domestic(world.url, [("v-3", body(lean)), ("v-1", body(first))])  # v-1 again: a duplicate
    wait_until(lambda: len(sim.documents) == 3, what="version 3 at the partner")
    publish_domestic(world.url, [("v-old", body(stale))])
    wait_until(lambda: world.depth("mra.rejects") >= 1, what="the stale version parked")
    rejects = world.drain("mra.rejects")
    sim.stop()

    assert [(mid, version_of(doc)) for mid, doc in sim.documents] == [
        ("v-1", "1"),
        ("v-2", "2"),
        ("v-3", "3"),
    ]
    for _, doc in sim.documents:
        sim.format.check_bytes(doc)  # valid against the KR 1.2 schema, as the partner checks it
    assert [(p.message_id, p.headers["x-mra-field"]) for p, _ in rejects] == [("v-old", "version")]
    reason = rejects[0][0].headers["x-mra-reason"]
    assert reason == (
        f"ccc-{CERT} version 4 (message v-old, status change 2020-01-01) is older than the current"
        " version 3 (message v-3, status change 2023-03-03): not delivered over it"
    )
    old = trail(world, "v-old")
    assert ("REJECTED", {"field": "version", "reason": reason, "source": "amqp:cn.domestic.in",
                         "version": 4, "current_version": 3}) in old  # fmt: skip
    assert not any(event == AuditEvent.SEND_ENQUEUED for event, _ in old)

    received = {
        mid: next(d for e, d in trail(world, mid) if e == "RECEIVED") for mid in ("v-1", "v-2", "v-3")
    }
    assert [received[m]["version"] for m in ("v-1", "v-2", "v-3")] == [1, 2, 3]
    warning = f"ccc-{CERT} version 3 (message v-3) lacks test_reports present in version 2 (message v-2)"
    assert received["v-3"]["warnings"] == [warning]
    assert "warnings" not in received["v-2"]
    assert f"warning: {warning}" in world.log_text()
    duplicate = [d for e, d in trail(world, "v-1") if e == "REJECTED"]
    assert duplicate and all(d.get("duplicate") for d in duplicate)  # not a version 4


def test_a_retry_overtaken_by_a_later_version_is_not_delivered_over_it(world: World) -> None:
    """Version 1 still on its way (a retry) when version 2 has been sent: parked on the
    partner's dead-letter queue naming both versions, never sent after it."""
    import pika

    from exchange.service.publish import Outgoing, publish_many

    base = json.loads(domestic_messages("r", 1)[0][1])
    newer = {
        **base,
        "history": [*base["history"], {"date": "2022-02-02", "status": "有效", "reason": "换证"}],
    }
    sim = recording(world)
    world.start_service()
    # version 1 for no partner of this world: numbered, sent nowhere yet
    publish_domestic(
        world.url, [("r-1", json.dumps(base, ensure_ascii=False).encode())], headers={"partners": "zz"}
    )
    publish_domestic(world.url, [("r-2", json.dumps(newer, ensure_ascii=False).encode())])
    wait_until(lambda: len(sim.documents) == 1, what="version 2 at the partner")
    assert version_of(sim.documents[0][1]) == "2"
    late = sim.documents[0][1].replace(b'recordVersion="2"', b'recordVersion="1"')
    headers = {"partner": "kr", "record-id": CERT, "sha256": "x", "attempt": 1, "record-version": 1}
    props = pika.BasicProperties(message_id="r-1", type="ccc", delivery_mode=2, headers=headers)
    assert not publish_many(world.url, [Outgoing("mra.outbound", "kr", late, props)]).failed  # as a retry
    wait_until(lambda: world.depth("mra.kr.dead") >= 1, what="the older version parked")
    (parked,) = world.drain("mra.kr.dead")
    sim.stop()
    reason = (
        f"ccc-{CERT} version 1 (message r-1) is older than version 2 (message r-2) already sent to kr:"
        " not delivered over it"
    )
    assert parked[0].message_id == "r-1" and parked[0].headers["x-mra-reason"] == reason
    assert [mid for mid, _ in sim.documents] == ["r-2"]
    assert ("DEAD_LETTERED", reason) in [(e, d.get("reason")) for e, d in trail(world, "r-1")]
