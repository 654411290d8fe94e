"""`exchange provision`: a partner's vhost, user, permissions and queues, made once with
rabbitmqctl, planned by --dry-run, idempotent; isolated names, removed afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from exchange.amqp.ops import vhost_exists
from exchange.amqp.settings import with_user, with_vhost
from tests.amqp.isolated import BROKER, ctl, require_broker

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
