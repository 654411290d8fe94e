"""A partner added from a temporary folder (files and an agreement only, see
tests/adapters/partner_kit.py) over each transport, delivering records end to end through
`exchange run`, with `exchange simulate-partner` playing it where there is a far side:

- file: written atomically into the agreement's drop_directory, audited, acknowledged (and
  the files are valid partner documents: `exchange validate`);
- amqp: its own vhost and user (the simulator provisions them), acknowledged on the reply queue;
- soap push: its receiving service implements the neutral partner-receive-1.0.wsdl;
- soap pull: it pulls from our endpoint with its shared secret.

Each record is ACKNOWLEDGED once in the audit; the simulator counts no duplicate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.config import load_config
from exchange.signing import ENV_CERT, ENV_KEY, generate_key_pair
from exchange.transports.amqp.provision import vhost_exists
from tests.adapters.partner_kit import make_partner
from tests.amqp.isolated import BROKER, World, ctl, domestic_messages, publish_domestic, reset_topology
from tests.soap.partner_processes import logs, settled, simulate, stop, trails, wait_for, wait_http
from tests.soap.running import free_port

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 3


def _kit(world: World, transport: str, options: dict[str, str]) -> dict[str, str]:
    kit = make_partner(world.root / "kit", "sg", transport=transport, with_shipped=False, options=options)
    cfg = load_config(kit.config)
    reset_topology(world, cfg)
    world.extra_configs.append(kit.config)
    ours = generate_key_pair(world.root / "ours")
    env = {
        "EXCHANGE_CONFIG": str(kit.config),
        "PYTHONPATH": os.pathsep.join((str(kit.pythonpath), str(ROOT))),
        ENV_KEY: str(ours.key),
        ENV_CERT: str(ours.certificate),
    }
    world.env.update(env)  # the world's service and the simulators both see the kit
    return env


def _publish_and_settle(world: World, prefix: str) -> list[str]:
    messages = domestic_messages(prefix, RECORDS)
    publish_domestic(world.url, messages)
    ids = [mid for mid, _ in messages]

    def done() -> bool:
        s = settled(world, "sg")
        return all(s.get(mid) for mid in ids)

    wait_for(f"{RECORDS} sg records settled", done, logs=lambda: logs(world))
    time.sleep(1)  # anything delivered twice would show now
    assert {mid: settled(world, "sg")[mid] for mid in ids} == {mid: ["ACKNOWLEDGED"] for mid in ids}, trails(
        world, "sg"
    )
    return ids


def test_file(world: World) -> None:
    drop = world.root / "drop"
    _kit(world, "file", {"drop_directory": str(drop)})
    world.start_service()
    world.wait_for_consumers("mra.sg.work")
    ids = _publish_and_settle(world, "kit-file")
    files = sorted(drop.iterdir())
    assert len(files) == RECORDS and not [f for f in files if f.name.startswith(".")], files
    assert all(any(mid in f.name for f in files) for mid in ids)
    validated = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "validate", *map(str, files)],
        env=world.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stdout.count("valid (sg ccc)") == RECORDS
    (entry,) = [e for e in trails(world, "sg")[ids[0]] if e == "ACKNOWLEDGED"]
    assert entry


@pytest.fixture
def partner_vhost() -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    vhost, user = f"mra-test-sg-{suffix}", f"sg-{suffix}"
    try:
        yield vhost, user
    finally:
        ctl("delete_vhost", vhost, check=False)
        ctl("delete_user", user, check=False)


def test_amqp(world: World, partner_vhost: tuple[str, str]) -> None:
    vhost, user = partner_vhost
    _kit(world, "amqp", {"vhost": vhost, "user": user})
    stats = world.root / "sg-stats.json"
    sim = subprocess.Popen(  # not one of the world's services: started before them, stopped here
        [sys.executable, "-m", "exchange.cli", "simulate-partner", "sg", "--stats", str(stats)],
        env=world.env, stdout=(world.root / "sim-sg.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(
            "the simulator provisioned its vhost",
            lambda: vhost_exists(BROKER, vhost),
            logs=lambda: logs(world),
        )
        world.start_service()
        world.wait_for_consumers("mra.sg.work")
        _publish_and_settle(world, "kit-amqp")
    finally:
        code = stop(sim)
    assert code in (0, -15), (world.root / "sim-sg.log").read_text()
    counts = json.loads(stats.read_text("utf-8"))
    assert (counts["distinct"], counts["acknowledged"], counts["duplicates"], counts["invalid"]) == (
        RECORDS, RECORDS, 0, 0
    ), counts  # fmt: skip


def test_soap_push(world: World) -> None:
    port = free_port()
    keys = world.root / "sim-keys" / "sg"
    generate_key_pair(keys, common_name="sg partner simulator")
    env = _kit(
        world,
        "soap",
        {
            "soap_outbound_url": f"http://127.0.0.1:{port}/sg/receive",
            "soap_receipt_certificate": str(keys / "signing-cert.pem"),
            "soap_timeout_s": "10",
        },
    )
    world.start_service()
    world.wait_for_consumers("mra.sg.work")
    sim = simulate(
        world, "sg", "--port", str(port), "--keys", str(keys), "--sender-cert", env[ENV_CERT],
        "--stats", str(world.root / "sg-stats.json"),
    )  # fmt: skip
    wait_http(f"http://127.0.0.1:{port}/sg/receive?wsdl", sim, world.root / "sim-sg.log")
    _publish_and_settle(world, "kit-push")
    assert stop(sim) == 0
    counts = json.loads((world.root / "sg-stats.json").read_text("utf-8"))
    assert (counts["messages"], counts["acknowledged"], counts["duplicates"], counts["rejected"]) == (
        RECORDS, RECORDS, 0, 0
    ), counts  # fmt: skip
    assert "partner-receive-1.0.wsdl" in (world.root / "sim-sg.log").read_text()


def test_soap_pull(world: World) -> None:
    http = free_port()
    secret = world.root / "kit" / "partner-sg" / "sg.secret"
    env = _kit(world, "soap", {"delivery": "pull", "soap_secret_file": "partner-sg/sg.secret"})
    secret.write_text("sg-shared-secret-0123456789\n", encoding="utf-8")
    world.start_service(http=f"127.0.0.1:{http}")
    world.wait_for_consumers("mra.sg.work")
    sim = simulate(
        world, "sg", "--endpoint", f"http://127.0.0.1:{http}/soap/v1", "--port", str(free_port()),
        "--interval", "0.2", "--sender-cert", env[ENV_CERT], "--stats", str(world.root / "sg-stats.json"),
    )  # fmt: skip
    _publish_and_settle(world, "kit-pull")
    assert stop(sim) == 0
    counts = json.loads((world.root / "sg-stats.json").read_text("utf-8"))
    assert (counts["pulled"], counts["acknowledged"]["ok"], counts["errors"], counts["duplicate_acks"]) == (
        RECORDS, RECORDS, 0, 0
    ), counts  # fmt: skip
