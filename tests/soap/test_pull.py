"""NZ pulls: `exchange run` moves NZ documents from the work queue into the pull outbox,
once each, and keeps every certificate's latest status for VerifyCertificate."""

from __future__ import annotations

import time

import pytest

from exchange.audit import open_store
from exchange.soap.store import PullState, SoapStore
from tests.amqp.isolated import World, domestic_messages, publish_domestic

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

NZ_ONLY = """
source = "adapters.domestic:source"
[partners.nz]
name = "New Zealand (test)"
format = "adapters.nz:format"
families = ["ccc"]
transport = "soap"
retry_seconds = [1, 1]
[partners.nz.options]
delivery = "pull"
"""


def test_documents_wait_in_the_outbox_once_each(world: World) -> None:
    config = world.root / "nz.toml"
    config.write_text(NZ_ONLY, encoding="utf-8")
    world.start_service(env={"EXCHANGE_CONFIG": str(config)})
    messages = domestic_messages("pull", 20)
    publish_domestic(world.url, messages)
    publish_domestic(world.url, messages[:5])  # the domestic side sends five again
    store = SoapStore(world.audit_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(store.pending("nz", limit=100)[0]) < 20:
            time.sleep(0.25)
        pending, more = store.pending("nz", limit=100)
        assert len(pending) == 20 and not more
        assert {e.message_id for e in pending} == {mid for mid, _ in messages}
        assert all(e.state is PullState.PENDING for e in pending)
        status = store.certificate("2019010907000007")
        assert status is not None and status.status.value == "VALID"
    finally:
        store.close()
    with open_store(world.audit_url) as audit:
        trail = [e.event for e in audit.trace("pull-3") if e.partner == "nz"]
    assert trail == ["CONVERTED", "VALIDATED", "READY_TO_SEND", "SEND_ENQUEUED", "WAITING_FOR_RECEIPT"]
