"""NZ pulls: `exchange run` moves NZ documents from the work queue into the pull outbox,
once each, and keeps every certificate's latest status for VerifyCertificate; the NZ
partner simulator then pulls them through our endpoint (on the same database)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.nz import format as nz_format
from exchange.audit import open_store
from exchange.service.store import PullState, SoapStore
from exchange.signing import ENV_CERT, ENV_KEY, KeyPairFiles
from exchange.soap.loopback import SECRETS, USERNAMES, start_endpoint
from exchange.transports.soap_pull.simulator import PullFault, PullPartner
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


def test_documents_wait_in_the_outbox_once_each_and_are_pulled_once_each(
    world: World, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    config = world.root / "nz.toml"
    config.write_text(NZ_ONLY, encoding="utf-8")
    signing = {ENV_KEY: str(our_keys.key), ENV_CERT: str(our_keys.certificate)}
    world.start_service(env={"EXCHANGE_CONFIG": str(config), **signing})
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
    queued = ["CONVERTED", "VALIDATED", "READY_TO_SEND", "SEND_ENQUEUED", "SIGNED", "WAITING_FOR_RECEIPT"]
    with open_store(world.audit_url) as audit:
        assert [e.event for e in audit.trace("pull-3") if e.partner == "nz"] == queued

    left_downloaded = _pull_everything(world.root / "endpoint", world.audit_url, our_keys, partner_keys)
    with open_store(world.audit_url) as audit:
        trails = {mid: [str(e.event) for e in audit.trace(mid) if e.partner == "nz"] for mid, _ in messages}
    for mid, trail in trails.items():  # acknowledged once each: none lost, none twice
        pulled = ["DOWNLOADED", "DOWNLOADED"] if mid in left_downloaded else ["DOWNLOADED"]
        assert trail == [*queued, *pulled, "ACKNOWLEDGED"], mid


def _pull_everything(
    folder: Path, audit_url: str, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> set[str]:
    """Our endpoint on the service's database, the NZ simulator pulling: first without
    acknowledging (the documents stay DOWNLOADED), then as it should, checking our signature. The message ids
    that were left DOWNLOADED."""
    certificates = {p: partner_keys[p].certificate.read_bytes() for p in ("eu", "nz")}
    endpoint = start_endpoint(folder, our_keys, certificates=certificates, audit_url=audit_url)
    ours = our_keys.certificate.read_bytes()  # every document must carry our verified signature
    nz = PullPartner(endpoint.url, USERNAMES["nz"], SECRETS["nz"], nz_format, our_cert=ours, page=8)
    try:
        nz.set_fault(PullFault.NO_ACK)
        nz.poll_once()
        downloaded = {
            e.message_id for e in endpoint.store.pending("nz")[0] if e.state is PullState.DOWNLOADED
        }
        assert len(downloaded) == 8
        nz.set_fault(PullFault.NONE)
        while nz.poll_once().listed:
            pass
        assert endpoint.store.pending("nz") == ([], False)
        assert nz.counts()["acknowledged"] == {"ok": 20, "warn": 0, "failed": 0}
        return downloaded
    finally:
        nz.close()
        endpoint.close()
