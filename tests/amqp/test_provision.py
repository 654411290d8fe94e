"""`exchange provision`: a partner's vhost, user, permissions and queues, made once with
rabbitmqctl or through the RabbitMQ management API (EXCHANGE_AMQP_ADMIN_URL), planned by
--dry-run, idempotent; errors that say what is wrong; isolated names, removed afterwards."""

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


MANAGEMENT = os.environ.get("EXCHANGE_TEST_AMQP_ADMIN_URL", "http://guest:guest@127.0.0.1:15672")


def management_reachable() -> str:
    """The management API's URL once it answers; skip (fail under CI=true) when it does not."""
    from exchange.transports.amqp.management import ManagementAdmin

    try:
        ManagementAdmin(MANAGEMENT).vhosts()
    except Exception as exc:
        reason = (
            f"RabbitMQ management API not reachable ({exc}); `rabbitmq-plugins enable rabbitmq_management`"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: .ci/run enables it)")
        pytest.skip(reason)
    return MANAGEMENT


@pytest.fixture(params=["rabbitmqctl", "management"])
def admin_url(request: pytest.FixtureRequest) -> str | None:
    """How provisioning gets admin rights: rabbitmqctl (None) or the management API."""
    return None if request.param == "rabbitmqctl" else management_reachable()


def provision(config: Path, *args: str, admin_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXCHANGE_AMQP_URL": BROKER}
    env.pop("EXCHANGE_PARTNER_PASSWORD", None)
    env.pop("EXCHANGE_AMQP_ADMIN_URL", None)
    if admin_url:
        env["EXCHANGE_AMQP_ADMIN_URL"] = admin_url
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", "provision", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_dry_run_plans_then_provision_creates_once(
    partner: tuple[Path, str, str], admin_url: str | None
) -> None:
    config, vhost, user = partner
    assert vhost_exists(BROKER, vhost) is False

    dry = provision(config, "--dry-run", admin_url=admin_url)
    assert dry.returncode == 0, dry.stderr
    expected = (
        "the RabbitMQ management API at http://127.0.0.1:15672" if admin_url else "rabbitmqctl on this host"
    )
    assert f"admin rights through {expected}" in dry.stderr
    assert "guest:guest" not in dry.stdout + dry.stderr
    assert f"kr: would create vhost {vhost}" in dry.stdout
    assert f"kr: would create user {user}" in dry.stdout
    assert "eu: nothing to provision on the broker (transport soap)" in dry.stdout
    assert vhost_exists(BROKER, vhost) is False  # a dry run changes nothing

    made = provision(config, "--partner", "kr", admin_url=admin_url)
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

    again = provision(config, "--partner", "kr", admin_url=admin_url)
    assert again.returncode == 0, again.stderr
    assert "create" not in again.stdout and "has the password" not in again.stdout
    # An existing user keeps its password: the first one still works.
    pika.BlockingConnection(pika.URLParameters(url)).close()


def test_management_api_errors_say_what_is_wrong(partner: tuple[Path, str, str]) -> None:
    config, vhost, _ = partner
    base = management_reachable()
    wrong = base.replace("guest:guest@", "guest:not-the-password@")
    refused = provision(config, "--partner", "kr", admin_url=wrong)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "refused the credentials of user guest (401" in refused.stderr
    assert "not-the-password" not in refused.stdout + refused.stderr
    nowhere = provision(config, "--partner", "kr", admin_url="http://guest:guest@127.0.0.1:1")
    assert nowhere.returncode == 2
    assert "cannot reach the RabbitMQ management API at http://127.0.0.1:1" in nowhere.stderr
    assert "rabbitmq_management" in nowhere.stderr
    not_http = provision(config, "--partner", "kr", admin_url="amqp://guest:guest@127.0.0.1:5672")
    assert not_http.returncode == 2 and "EXCHANGE_AMQP_ADMIN_URL must be" in not_http.stderr
    assert "Traceback" not in refused.stderr + nowhere.stderr + not_http.stderr
    assert vhost_exists(BROKER, vhost) is False  # nothing half-made


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
