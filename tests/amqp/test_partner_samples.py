"""The README's reverse direction: `exchange simulate-partner kr --publish` with the shipped
KC samples, behind `exchange run`: validated, reverse-mapped, on cn.domestic.out, traced."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from exchange.service.topology import DOMESTIC_OUT_ARCHIVE
from tests.amqp.isolated import World

ROOT = Path(__file__).resolve().parents[2]
KC = sorted((ROOT / "samples" / "partners" / "kr").glob("kc-*.xml"))


def _cli(world: World, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        env={**world.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _archived(world: World, count: int, timeout: float = 60) -> list[dict[str, object]]:
    got: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    conn, ch = world.channel()
    try:
        while len(got) < count and time.monotonic() < deadline:
            method, _props, body = ch.basic_get(DOMESTIC_OUT_ARCHIVE, auto_ack=True)
            if method is None:
                time.sleep(0.2)
                continue
            got.append(json.loads(body))
    finally:
        if conn.is_open:
            conn.close()
    return got


def test_kc_samples_reach_domestic_systems_and_the_audit(world: World) -> None:
    assert KC, "samples/partners/kr/ has no KC record"
    world.start_service()
    args = [arg for path in KC for arg in ("--publish", str(path))]
    # The fixture's partner user has its own password: given, so the simulator does not reset it.
    out = _cli(world, "simulate-partner", "kr", *args, env={"EXCHANGE_PARTNER_PASSWORD": world.kr_password})
    assert out.returncode == 0, out.stderr
    assert f"published {len(KC)} kr records" in out.stderr
    records = _archived(world, len(KC))
    assert sorted(str(r["certNo"]) for r in records) == sorted(p.stem.removeprefix("kc-") for p in KC)
    assert {r["scheme"] for r in records} == {"KC"}
    for path in KC:
        trace = _cli(world, "audit", "trace", path.stem.removeprefix("kc-"), "--json")
        events = [json.loads(line)["event"] for line in trace.stdout.splitlines()]
        assert events[-2:] == ["VALIDATED", "DELIVERED_DOMESTIC"], events
