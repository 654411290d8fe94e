"""`exchange provision`: a partner's vhost, user, permissions and queues, made once with
rabbitmqctl, planned by --dry-run, idempotent; isolated names, removed afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from exchange.audit import open_store
from exchange.config import load_config
from exchange.registry import partner_format
from exchange.service.settings import with_user, with_vhost
from exchange.transports.amqp.provision import PartnerVhost, vhost_exists
from exchange.transports.amqp.provision import provision as provision_vhost
from exchange.transports.amqp.simulator import Mode, PartnerSimulator
from tests.amqp.isolated import BROKER, World, ctl, domestic_messages, publish_domestic, require_broker

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def partner(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    require_broker()
    suffix = uuid.uuid4().hex[:8]
    vhost, user = f"mra-test-prov-{suffix}", f"prov-{suffix}"
    config = tmp_path / "agreements.toml"
    config.write_text(
        f"""
[partners.kr]
name = "Korea (test)"
format = "adapters.kr:format"
families = ["ccc"]
transport = "amqp"
[partners.kr.options]
vhost = "{vhost}"
user = "{user}"
[partners.eu]
name = "EU (test)"
format = "adapters.eu:format"
families = ["ccc"]
transport = "soap"
""",
        encoding="utf-8",
    )
    try:
        yield config, vhost, user
    finally:
        ctl("delete_vhost", vhost, check=False)
        ctl("delete_user", user, check=False)


def provision(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXCHANGE_AMQP_URL": BROKER}
    env.pop("EXCHANGE_PARTNER_PASSWORD", None)
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", "provision", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_dry_run_plans_then_provision_creates_once(partner: tuple[Path, str, str]) -> None:
    config, vhost, user = partner
    assert vhost_exists(BROKER, vhost) is False

    dry = provision(config, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"kr: would create vhost {vhost}" in dry.stdout
    assert f"kr: would create user {user}" in dry.stdout
    assert "eu: nothing to provision on the broker (transport soap)" in dry.stdout
    assert vhost_exists(BROKER, vhost) is False  # a dry run changes nothing

    made = provision(config, "--partner", "kr")
    assert made.returncode == 0, made.stderr
    assert "eu:" not in made.stdout
    (line,) = [x for x in made.stdout.splitlines() if "has the password" in x]
    password = line.split("has the password ", 1)[1].split(" ", 1)[0]
    assert vhost_exists(BROKER, vhost) is True

    # The partner's user logs in to its vhost, reads its inbound queue, may not declare.
    url = with_user(with_vhost(BROKER, vhost), user, password)
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        ch = conn.channel()
        assert ch.queue_declare("kr.inbound", passive=True).method.message_count == 0
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            conn.channel().queue_declare("not-mine", durable=True)
        assert refused.value.reply_code == 403
    finally:
        if conn.is_open:
            conn.close()

    again = provision(config, "--partner", "kr")
    assert again.returncode == 0, again.stderr
    assert "create" not in again.stdout and "has the password" not in again.stdout
    # An existing user keeps its password: the first one still works.
    pika.BlockingConnection(pika.URLParameters(url)).close()


def test_an_unknown_partner_is_a_usage_error(partner: tuple[Path, str, str]) -> None:
    config, _, _ = partner
    result = provision(config, "--partner", "xx", "--dry-run")
    assert result.returncode == 2 and "unknown partner xx" in result.stderr


def test_a_partner_provisioned_after_start_is_connected_without_a_restart(
    world: World, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    vhost, user, password = f"mra-test-late-{suffix}", f"late-{suffix}", uuid.uuid4().hex
    config = tmp_path / "late.toml"
    text = world.config_path.read_text("utf-8").replace(world.kr.vhost, vhost).replace(world.kr.user, user)
    config.write_text(text, encoding="utf-8")
    cfg = load_config(config)
    pv = PartnerVhost.of(cfg.partners["kr"])
    assert (pv.vhost, pv.user) == (vhost, user)
    sim: PartnerSimulator | None = None
    try:
        world.start_service(env={"EXCHANGE_CONFIG": str(config), "EXCHANGE_AMQP_HELD_CHECK_S": "1"})
        sent = publish_domestic(world.url, domestic_messages("late", 5))
        deadline = time.monotonic() + 60
        while world.depth("mra.kr.work") < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        assert world.depth("mra.kr.work") == sent  # converted, waiting for kr
        log = world.log_text()
        assert "partner cannot deliver" in log and "run exchange provision --partner kr" in log

        provision_vhost(pv, password, "guest")
        url = with_user(with_vhost(world.url, vhost), user, password)
        sim = PartnerSimulator(url, pv, partner_format(cfg.partners["kr"]), Mode.ACK)
        threading.Thread(target=sim.run, daemon=True).start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and sim.stats.as_dict()["acknowledged"] < sent:
            time.sleep(0.3)
        with open_store(world.audit_url) as store:
            acked = {e.message_id for e in store.export(None, None, "kr") if e.event == "ACKNOWLEDGED"}
        assert {f"late-{i}" for i in range(sent)} <= acked, (sim.stats.as_dict(), world.log_text()[-3000:])
        assert "partner provisioned: reconnecting" in world.log_text()
    finally:
        if sim is not None:
            sim.stop()
        ctl("delete_vhost", vhost, check=False)
        ctl("delete_user", user, check=False)
