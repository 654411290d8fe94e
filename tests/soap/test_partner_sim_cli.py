"""`exchange simulate-partner eu --port N --fault F` (exchange/soap/sim_cli.py), run in a
thread: it serves, counts, writes its counts, refuses what it cannot play."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from exchange.signing import KeyPairFiles, Signer
from exchange.soap.outbound import OutboundClient, OutboundSettings, Outcome, ReceiptStore
from exchange.soap.partner_sim import PartnerSimulator
from exchange.soap.sim_cli import simulate_partner_soap
from tests.soap.test_outbound_support import DOCUMENT


def test_serves_until_stopped_and_writes_counts(tmp_path: Path, our_keys: KeyPairFiles) -> None:
    stop = threading.Event()
    started: list[PartnerSimulator] = []
    ready = threading.Event()

    def on_ready(sim: PartnerSimulator) -> None:
        started.append(sim)
        ready.set()

    codes: list[int] = []
    kwargs = {
        "port": 0,
        "fault": "warn",
        "keys": tmp_path / "eu-keys",
        "sender_cert": our_keys.certificate,
        "stats": tmp_path / "stats.json",
        "ready": on_ready,
        "stop": stop,
    }
    thread = threading.Thread(target=lambda: codes.append(simulate_partner_soap("eu", **kwargs)))  # type: ignore[arg-type]
    thread.start()
    assert ready.wait(30)
    [sim] = started
    receipts = ReceiptStore(f"sqlite:///{tmp_path / 'audit.db'}")
    settings = OutboundSettings("eu", sim.url, (tmp_path / "eu-keys" / "signing-cert.pem").read_bytes())
    client = OutboundClient(settings, Signer.from_files(our_keys.key, our_keys.certificate), receipts)
    try:
        assert client.send(DOCUMENT, message_id="m-1", conversation_id="c").outcome is Outcome.WARNED
    finally:
        client.close()
        receipts.close()
        stop.set()
        thread.join(30)
    assert codes == [0]
    counts = json.loads((tmp_path / "stats.json").read_text())
    assert (counts["deliveries"], counts["acknowledged"], counts["duplicates"]) == (1, 1, 0)


def test_usage_errors(tmp_path: Path) -> None:
    assert simulate_partner_soap("kr", port=0, keys=tmp_path) == 2
    assert simulate_partner_soap("eu", port=0, fault="sulk", keys=tmp_path) == 2
