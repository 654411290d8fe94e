"""Partner health with a reason: decided from the agreement and the status figures, and the
same answer in `exchange status --json`, /readyz, the console's API, a metric and the log."""

from __future__ import annotations

import http.cookiejar
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exchange.config import load_config
from exchange.health import Figures, Health, PartnerHealth, assess, configuration_problem
from tests.amqp.isolated import World, reset_topology
from tests.console.support import PASSWORDS, users_file

ROOT = Path(__file__).resolve().parents[1]

SOAP_PUSH_WITHOUT_ENDPOINT = """
[partners.eu]
name = "EU (test: no soap_outbound_url)"
format = "adapters.eu:format"
families = ["ccc", "glp", "pt"]
transport = "soap"
"""


def agreements(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "agreements.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_each_state_comes_with_its_reason(tmp_path: Path) -> None:
    cfg = agreements(
        tmp_path,
        SOAP_PUSH_WITHOUT_ENDPOINT
        + '[partners.eu.options]\nsoap_outbound_url = "http://x/"\nsoap_receipt_certificate = "c.pem"\n'
        + "stall_after_s = 600\n",
    )
    eu = cfg.partners["eu"]
    w = "mra.eu.work"
    assert assess(eu, Figures(w, consumers=1)) == PartnerHealth(Health.HEALTHY, "nothing waiting")
    h = assess(eu, Figures(w, backlog=3, retrying=3, consumers=1, failed_last_hour=2))
    assert h.health is Health.DEGRADED
    assert h.reason == "2 failed deliveries in the last hour; 3 messages waiting to retry"
    h = assess(eu, Figures(w, backlog=5, consumers=0))
    assert h.health is Health.STALLED and h.reason.startswith("5 messages in mra.eu.work and no consumer")
    h = assess(eu, Figures(w, backlog=1, consumers=1, oldest_age_s=900))
    assert h.health is Health.STALLED and "limit 10m" in h.reason
    assert assess(eu, Figures(w, consumers=1, breaker="open")).health is Health.STALLED
    assert assess(eu, Figures(w), "why").health is Health.NOT_CONFIGURED


def test_what_cannot_deliver_is_not_configured(tmp_path: Path) -> None:
    cfg = agreements(
        tmp_path,
        SOAP_PUSH_WITHOUT_ENDPOINT
        + """
[partners.nz]
name = "NZ (test)"
format = "adapters.nz:format"
families = ["ccc"]
transport = "soap"
[partners.nz.options]
delivery = "pull"
soap_secret_env = "TEST_HEALTH_SECRET"
[partners.kr]
name = "KR (test)"
format = "adapters.kr:format"
families = ["ccc"]
transport = "amqp"
""",
    )
    eu = configuration_problem(cfg, "eu", env={})
    assert eu is not None and "soap_outbound_url" in eu and "mra.eu.work" in eu
    nz = configuration_problem(cfg, "nz", env={})
    assert nz is not None and "TEST_HEALTH_SECRET" in nz
    assert configuration_problem(cfg, "nz", env={"TEST_HEALTH_SECRET": "s" * 20}) is None
    kr = configuration_problem(cfg, "kr", vhost_exists=False)
    assert kr == "vhost mra-kr not found on the broker: run exchange provision --partner kr"
    assert configuration_problem(cfg, "kr", vhost_exists=True) is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(opener: Any, url: str) -> tuple[int, bytes]:
    try:
        with opener.open(url, timeout=10) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


def _console_overview(base: str) -> dict[str, Any]:
    """Log in as a viewer over HTTP, as a browser does, and read the overview API."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    _, form = _get(opener, f"{base}/ops/login")
    token = re.search(rb'name="csrf" value="([^"]+)"', form)
    assert token is not None
    body = urllib.parse.urlencode(
        {"csrf": token.group(1).decode(), "username": "bob", "password": PASSWORDS["bob"]}
    ).encode()
    opener.open(urllib.request.Request(f"{base}/ops/login", data=body), timeout=10).close()
    status, data = _get(opener, f"{base}/ops/api/overview")
    assert status == 200, data
    return dict(json.loads(data))


@dataclass
class Running:
    base: str
    log: Path
    env: dict[str, str]
    ready: dict[str, Any]


def start_with_a_partner_without_endpoint(world: World, tmp_path: Path) -> Running:
    """`exchange run` (HTTP front, console users) with a SOAP push partner that names no
    endpoint beside the world's partners; returns once /readyz answers 200."""
    config = tmp_path / "with-eu.toml"
    config.write_text(world.config_path.read_text("utf-8") + SOAP_PUSH_WITHOUT_ENDPOINT, encoding="utf-8")
    reset_topology(world, load_config(config))  # eu's queues as this agreement declares them
    world.extra_configs.append(config)
    env = {**world.env, "EXCHANGE_CONFIG": str(config), "EXCHANGE_CONSOLE_USERS": str(users_file(tmp_path))}
    port = _free_port()
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "run", "--http", f"127.0.0.1:{port}"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    world.processes.append(proc)
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener()
    deadline = time.monotonic() + 60
    ready: dict[str, Any] = {}
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            status, body = _get(opener, f"{base}/readyz")
            ready = json.loads(body)
            if status == 200:
                break
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    assert ready.get("ready") is True, (ready, log.read_text())
    return Running(base, log, env, ready)


@pytest.mark.rabbitmq
def test_a_soap_partner_without_endpoint_is_not_configured_everywhere(world: World, tmp_path: Path) -> None:
    running = start_with_a_partner_without_endpoint(world, tmp_path)
    base, log, env, ready = running.base, running.log, running.env, running.ready
    opener = urllib.request.build_opener()
    eu = ready["checks"]["partners"]["eu"]
    assert eu["health"] == "not_configured" and "soap_outbound_url" in eu["reason"]
    assert ready["checks"]["partners"]["kr"]["health"] != "not_configured"  # provisioned by the fixture

    lines = [x for x in log.read_text().splitlines() if "partner cannot deliver" in x]
    assert len(lines) == 1 and "eu" in lines[0] and "soap_outbound_url" in lines[0], lines

    overview = _console_overview(base)
    (card,) = [p for p in overview["partners"] if p["partner"] == "eu"]
    assert card["health"] == "not_configured" and card["reason"] == eu["reason"]

    _, metrics = _get(opener, f"{base}/metrics")
    assert 'mra_partner_health{health="not_configured",partner="eu"} 1.0' in metrics.decode()

    out = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    partners = json.loads(out.stdout)["partners"]
    assert partners["eu"]["health"] == "not_configured" and partners["eu"]["reason"] == eu["reason"]
