"""EU push end to end: `exchange run` delivers to the EU partner's SOAP service (the
simulator, over real HTTP) with signed documents and verified, stored receipts."""

from __future__ import annotations

import time

import pytest

from exchange.audit import AuditEvent, open_store
from exchange.signing import generate_key_pair
from exchange.soap.partner_sim import PartnerEuApp, PartnerSimulator
from exchange.soap.sim_cli import partner_signer
from tests.amqp.isolated import World, domestic_messages, publish_domestic

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

EU_ONLY = """
source = "adapters.domestic:source"
[partners.eu]
name = "European Union (test)"
format = "adapters.eu:format"
families = ["ccc", "glp", "pt"]
transport = "soap"
retry_seconds = [1, 1]
[partners.eu.options]
soap_outbound_url = "{url}"
soap_receipt_certificate = "{partner_cert}"
soap_timeout_s = 5
"""


def test_documents_are_pushed_signed_and_acknowledged_once(world: World) -> None:
    ours = world.root / "ours"
    pair = generate_key_pair(ours)
    key, cert = pair.key, pair.certificate
    sim_keys = world.root / "sim"
    app = PartnerEuApp(partner_signer(sim_keys), cert.read_bytes())
    sim = PartnerSimulator(app)
    try:
        config = world.root / "eu.toml"
        config.write_text(
            EU_ONLY.format(url=sim.url, partner_cert=sim_keys / "signing-cert.pem"), encoding="utf-8"
        )
        env = {
            "EXCHANGE_CONFIG": str(config),
            "EXCHANGE_SIGNING_KEY": str(key),
            "EXCHANGE_SIGNING_CERT": str(cert),
        }
        world.start_service(env=env)
        publish_domestic(world.url, domestic_messages("push", 10))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and app.stats.as_dict()["acknowledged"] < 10:
            time.sleep(0.25)
        time.sleep(1)
        counts = app.stats.as_dict()
        assert counts["messages"] == 10 and counts["acknowledged"] == 10
        assert counts["duplicates"] == 0 and counts["rejected"] == 0
    finally:
        sim.stop()
    with open_store(world.audit_url) as audit:
        events = [e.event for e in audit.trace("push-4") if e.partner == "eu"]
    assert events[-1] is AuditEvent.ACKNOWLEDGED and events.count(AuditEvent.ACKNOWLEDGED) == 1
    assert AuditEvent.SEND_IN_PROGRESS in events and AuditEvent.WAITING_FOR_RECEIPT in events
