"""A certificate suspended and reinstated through `exchange run`: the credential of its
first version, held by a verifier, turns suspended and back within 60 s of the domestic
record arriving on cn.domestic.in, as `exchange verify-credential --fetch` sees it from
the service's own /.well-known/did.json and /status/ lists. The feed messages carry the
credential id, a timestamp, app-id, the vc+jwt media type and the certificate."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from exchange.archive import DocumentArchive
from exchange.credentials.keys import generate_credential_key
from tests.amqp.isolated import World, publish_domestic

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CERT = "2019010907654321"
WITHIN_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _record(status: str, history: list[dict[str, str]]) -> bytes:
    record = json.loads((ROOT / "samples" / "ccc.jsonl").read_text("utf-8").splitlines()[0])
    record.update(certNo=CERT, certStatus=status, history=history)
    return json.dumps(record, ensure_ascii=False).encode()


def _feed(world: World, count: int, timeout: float = 30.0) -> list[tuple[Any, bytes]]:
    """The first `count` messages of bri.feed (waiting up to `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        conn, ch = world.channel()
        got: list[tuple[Any, bytes]] = []
        try:
            ch.basic_qos(prefetch_count=100)
            for method, props, body in ch.consume(
                "bri.feed", arguments={"x-stream-offset": "first"}, inactivity_timeout=1.0
            ):
                if method is None:
                    break
                got.append((props, body))
                ch.basic_ack(method.delivery_tag)
            ch.cancel()
        finally:
            conn.close()
        if len(got) >= count or time.monotonic() > deadline:
            assert len(got) >= count, f"{len(got)} feed messages, not {count}\n{world.log_text()[-3000:]}"
            return got
        time.sleep(0.5)


def _verify(path: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "verify-credential", "--fetch", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _wait_for(path: Path, env: dict[str, str], status: str, since: float) -> float:
    while True:
        line = _verify(path, env)
        if f": valid; {status};" in line:
            return time.monotonic() - since
        assert time.monotonic() - since < WITHIN_S, f"still {line!r} after {WITHIN_S:g} s"
        time.sleep(0.5)


def _payload(token: bytes) -> dict[str, Any]:
    part = token.split(b".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
    return claims


def test_suspended_and_reinstated_through_exchange_run(world: World, tmp_path: Path) -> None:
    key = generate_credential_key(tmp_path / "keys")
    port = _free_port()
    env = {"EXCHANGE_CREDENTIAL_KEY": str(key), "EXCHANGE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    world.start_service("--partner", "bri", env=env, http=f"127.0.0.1:{port}")
    verifier_env = {**world.env, "PYTHONPATH": str(ROOT)}
    issued = [{"date": "2021-05-06", "status": "有效", "reason": "型号增加"}]

    started = time.time()
    publish_domestic(world.url, [("cert-v1", _record("有效", issued))])
    ((props, body),) = _feed(world, 1)
    first = tmp_path / "first.jwt"
    first.write_bytes(body)
    credential = _payload(body)
    assert props.message_id == credential["id"] and credential["id"].startswith("urn:uuid:")
    assert props.content_type == "application/vc+jwt"
    assert props.app_id == "mra-exchange"
    assert started - 1 <= props.timestamp <= time.time() + 1
    assert props.headers["certificate"] == f"ccc:{CERT}"
    assert props.type == "ccc" and props.correlation_id == "cert-v1"
    assert credential["issuer"]["id"] == f"did:web:127.0.0.1%3A{port}"
    assert ": valid; active;" in _verify(first, verifier_env)
    archive = DocumentArchive(world.audit_url)
    try:  # the evidence: what went out on the feed, byte for byte
        kept = {a.content_type: a.body for a in archive.for_message("cert-v1")}
    finally:
        archive.close()
    assert kept == {"application/vc+jwt": body}  # issued before it was queued: no draft leaves intake

    suspended = [*issued, {"date": "2026-01-10", "status": "暂停", "reason": "监督抽查不合格"}]
    sent = time.monotonic()
    publish_domestic(world.url, [("cert-v2", _record("暂停", suspended))])
    took_suspend = _wait_for(first, verifier_env, "suspended", sent)

    reinstated = [*suspended, {"date": "2026-02-01", "status": "有效", "reason": "整改完成"}]
    sent = time.monotonic()
    publish_domestic(world.url, [("cert-v3", _record("有效", reinstated))])
    took_reinstate = _wait_for(first, verifier_env, "active", sent)
    assert took_suspend < WITHIN_S and took_reinstate < WITHIN_S
    print(f"verifier saw: suspended after {took_suspend:.1f} s, active again after {took_reinstate:.1f} s")

    messages = _feed(world, 3)
    ids = [p.message_id for p, _ in messages]
    assert len(set(ids)) == 3  # one id per version
    assert [p.correlation_id for p, _ in messages] == ["cert-v1", "cert-v2", "cert-v3"]
    second = tmp_path / "second.jwt"
    second.write_bytes(messages[1][1])
    assert ": valid; active;" in _verify(second, verifier_env)  # certificate-level: every version
