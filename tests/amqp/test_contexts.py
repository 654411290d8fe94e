"""`exchange run` serves our JSON-LD extension context at the URL its bri credentials
name (EXCHANGE_PUBLIC_URL + /contexts/<file>), and a credential taken off bri.feed expands
with pyld fetching that context from the running front: nothing dropped."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from pyld import jsonld

from exchange.resources import schema_path
from tests.adapters.bri.test_untp_conformance import dropped_on_expansion
from tests.adapters.bri.untp_reference import REPO, local_contexts
from tests.amqp.isolated import World, _bri_available, publish_domestic

pytestmark = pytest.mark.rabbitmq
CONTEXT = "mra-dcc-ext-1.1.jsonld"  # what bri 1.1 credentials name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _start(world: World, base: str, port: int) -> None:
    log = (world.root / "run-contexts.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "run", "--http", f"127.0.0.1:{port}"],
        env={**world.env, "EXCHANGE_PUBLIC_URL": base},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    world.processes.append(proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError((world.root / "run-contexts.log").read_text())
        try:
            if _get(f"{base}/healthz")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        raise AssertionError("exchange run did not answer /healthz within 60 s")
    world.wait_for_consumers("mra.intake")


def _first_credential(world: World, timeout: float = 30) -> dict[str, Any]:
    conn, ch = world.channel()
    try:
        ch.basic_qos(prefetch_count=10)
        deadline = time.monotonic() + timeout
        for method, _props, body in ch.consume(
            "bri.feed", arguments={"x-stream-offset": "first"}, inactivity_timeout=1
        ):
            if method is not None:
                ch.basic_ack(method.delivery_tag)
                return dict(json.loads(body))
            if time.monotonic() > deadline:
                break
    finally:
        conn.close()
    raise AssertionError(f"no credential on bri.feed within {timeout} s")


def test_the_running_front_serves_the_context_its_credentials_name(world: World) -> None:
    if not _bri_available():
        pytest.skip("the bri adapter is not installed")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    _start(world, base, port)

    status, headers, body = _get(f"{base}/contexts/{CONTEXT}")
    shipped = schema_path("bri", CONTEXT).read_bytes()
    assert status == 200, body[:200]
    assert headers["content-type"] == "application/ld+json"
    assert body == shipped, f"served {len(body)} bytes, schemas/bri/{CONTEXT} has {len(shipped)}"
    assert _get(f"{base}/contexts/nothing.jsonld")[0] == 404

    publish_domestic(world.url, [("ctx-0", (REPO / "samples" / "glp.json").read_bytes())], "glp")
    credential = _first_credential(world)
    ours = f"{base}/contexts/{CONTEXT}"
    assert credential["@context"][2] == ours
    assert credential["recordVersion"] == 1  # the service numbers versions (bri 1.1, docs/versions.md)

    official = {url: path for url, path in local_contexts(base).items() if url != ours}
    fetched: list[str] = []

    def loader(url: str, options: Any = None) -> dict[str, Any]:
        if url == ours:  # over HTTP from the running service
            fetched.append(url)
            code, _, data = _get(url)
            assert code == 200
            return {"contextUrl": None, "documentUrl": url, "document": json.loads(data)}
        return {"contextUrl": None, "documentUrl": url, "document": json.loads(official[url].read_text())}

    key_paths, survived, reported = dropped_on_expansion(credential, loader)
    assert fetched, "the extension context was not fetched from the front"
    lost = sorted(key_paths - survived)
    assert not lost and not reported, f"{len(key_paths)} key paths, {len(survived)} survive: lost {lost}"
    assert jsonld.expand(credential, {"documentLoader": loader})
