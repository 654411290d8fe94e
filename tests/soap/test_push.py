"""EU push end to end: `exchange run` delivers to the EU partner's SOAP service (the
simulator, over real HTTP) with signed documents and verified, stored receipts; each
document's trace reads the whole state machine, READY_TO_SEND to ACKNOWLEDGED or, attempt
by attempt, to SEND_FAILURE."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from exchange.audit import open_store
from exchange.config import load_config
from exchange.signing import generate_key_pair
from exchange.transports.sim_cli import partner_signer
from exchange.transports.soap_push.simulator import Fault, PartnerEuApp, PartnerSimulator
from tests.amqp.isolated import World, domestic_messages, publish_domestic, reset_topology

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


QUEUED = ["CONVERTED", "VALIDATED", "READY_TO_SEND", "SEND_ENQUEUED"]
ATTEMPT = ["SEND_IN_PROGRESS", "WAITING_FOR_RECEIPT"]


@contextmanager
def eu_partner(world: World) -> Iterator[PartnerEuApp]:
    """The EU simulator (checking our signatures) and `exchange run` delivering to it."""
    pair = generate_key_pair(world.root / "ours")
    sim_keys = world.root / "sim"
    app = PartnerEuApp(partner_signer(sim_keys), pair.certificate.read_bytes())
    sim = PartnerSimulator(app)
    try:
        config = world.root / "eu.toml"
        config.write_text(
            EU_ONLY.format(url=sim.url, partner_cert=sim_keys / "signing-cert.pem"), encoding="utf-8"
        )
        reset_topology(world, load_config(config))  # eu's queues with this agreement's retry TTL
        world.extra_configs.append(config)
        env = {
            "EXCHANGE_CONFIG": str(config),
            "EXCHANGE_SIGNING_KEY": str(pair.key),
            "EXCHANGE_SIGNING_CERT": str(pair.certificate),
        }
        world.start_service(env=env)
        yield app
    finally:
        sim.stop()


def trail(world: World, message_id: str) -> list[str]:
    with open_store(world.audit_url) as audit:
        return [str(e.event) for e in audit.trace(message_id) if e.partner == "eu"]


def wait_for(what: str, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.25)


def test_documents_are_pushed_signed_and_acknowledged_once(world: World) -> None:
    with eu_partner(world) as app:
        publish_domestic(world.url, domestic_messages("push", 10))
        wait_for("10 acknowledged", lambda: app.stats.as_dict()["acknowledged"] >= 10)
        time.sleep(1)
        counts = app.stats.as_dict()
        assert counts["messages"] == 10 and counts["acknowledged"] == 10
        assert counts["duplicates"] == 0 and counts["rejected"] == 0
    # the state machine, every transition audited, in order
    assert trail(world, "push-4") == [*QUEUED, *ATTEMPT, "ACKNOWLEDGED"]


def test_failed_attempts_wait_for_their_retry_and_the_last_one_is_a_send_failure(world: World) -> None:
    with eu_partner(world) as app:
        app.set_fault(Fault.REJECT, times=1)
        publish_domestic(world.url, domestic_messages("retried", 1))
        wait_for("retried-0 acknowledged", lambda: trail(world, "retried-0")[-1:] == ["ACKNOWLEDGED"])
        app.set_fault(Fault.REJECT)
        publish_domestic(world.url, domestic_messages("refused", 1))
        wait_for("refused-0 failed", lambda: "SEND_FAILURE" in trail(world, "refused-0"))
    failed = [*ATTEMPT, "SEND_ATTEMPT_FAILED"]
    assert trail(world, "retried-0") == [*QUEUED, *failed, "WAITING_FOR_RETRY", *ATTEMPT, "ACKNOWLEDGED"]
    assert trail(world, "refused-0") == [
        *QUEUED, *failed, "WAITING_FOR_RETRY", *failed, "WAITING_FOR_RETRY", *failed, "SEND_FAILURE",
        "DEAD_LETTERED",
    ]  # fmt: skip
