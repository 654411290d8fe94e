"""`exchange simulate-partner eu|nz --port N --fault F` (exchange/soap/sim_cli.py), run in a
thread: it serves (eu) or pulls (nz), counts, writes its counts, refuses what it cannot play."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from exchange.config import load_config
from exchange.signing import KeyPairFiles, Signer
from exchange.transports.sim_cli import simulate_partner_soap
from exchange.transports.soap_pull.simulator import PullSimulator
from exchange.transports.soap_push.outbound import OutboundClient, OutboundSettings, Outcome, ReceiptStore
from exchange.transports.soap_push.simulator import PartnerSimulator
from tests.soap.support import Endpoint, nz_document
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


def test_nz_pulls_from_our_endpoint_until_stopped_and_writes_counts(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    for i in range(3):
        endpoint.store.enqueue_for_pull("nz", f"m-{i}", "ccc", f"rec-{i}", nz_document())
    stop = threading.Event()
    started: list[PullSimulator] = []
    codes: list[int] = []
    kwargs = {
        "port": 0,
        "endpoint": endpoint.url,
        "config": endpoint.config,  # the credentials its agreement gives nz
        "interval_s": 0.05,
        "stats": tmp_path / "stats.json",
        "ready": started.append,
        "stop": stop,
    }
    thread = threading.Thread(target=lambda: codes.append(simulate_partner_soap("nz", **kwargs)))  # type: ignore[arg-type]
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(endpoint.store.pending("nz")[0]) > 0:
            time.sleep(0.05)
        assert started and started[0].url.startswith("http://127.0.0.1:")
    finally:
        stop.set()
        thread.join(30)
    assert codes == [0]
    assert [endpoint.trail(f"m-{i}") for i in range(3)] == [["DOWNLOADED", "ACKNOWLEDGED"]] * 3
    counts = json.loads((tmp_path / "stats.json").read_text())
    assert (counts["pulled"], counts["acknowledged"], counts["errors"]) == (
        3,
        {"ok": 3, "warn": 0, "failed": 0},
        0,
    )


def test_nz_submits_records_with_publish(tmp_path: Path, endpoint: Endpoint) -> None:
    record = tmp_path / "eess.xml"
    record.write_bytes(nz_document())
    code = simulate_partner_soap(
        "nz", port=0, endpoint=endpoint.url, config=endpoint.config, publish=[record]
    )
    assert code == 0
    assert [i.record.record_id for i in endpoint.handoff.items] == ["NZ-ESS-2021-0042"]  # type: ignore[attr-defined]
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not the shared secret at all\n")
    refused = simulate_partner_soap(
        "nz", port=0, endpoint=endpoint.url, config=endpoint.config, publish=[record], secret_file=wrong
    )
    assert refused == 1
    assert endpoint.last_rejection().details["code"] == "NOT_AUTHENTICATED"


def test_nz_usage_errors(tmp_path: Path, endpoint: Endpoint) -> None:
    assert simulate_partner_soap("nz", port=0, fault="bad-signature", config=endpoint.config) == 2
    no_secret = endpoint.config.path.read_text().replace('soap_secret_file = "nz.secret"\n', "")  # type: ignore[union-attr]
    path = endpoint.folder / "no-secret.toml"
    path.write_text(no_secret)
    assert simulate_partner_soap("nz", port=0, config=load_config(path)) == 2
