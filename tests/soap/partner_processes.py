"""A partner end to end as an operator runs it: `exchange simulate-partner P` and `exchange
run` as subprocesses beside an isolated broker world (tests/amqp/isolated.py), agreements
written as TOML, counts read back from the audit store and the simulator's --stats file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exchange.audit import open_store
from tests.amqp.isolated import World

SETTLED = ("ACKNOWLEDGED", "ACKNOWLEDGED_WITH_WARNING", "SEND_FAILURE")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_value(v) for v in sorted(value) if v is not None) + "]"
    raise TypeError(f"no TOML for {value!r}")


def agreement_toml(partner: str, entry: Mapping[str, Any], **options: Any) -> str:
    """One [partners.P] table (as tomllib read it), its options updated with `options`."""
    lines = [f"[partners.{partner}]"]
    tables: dict[str, Mapping[str, Any]] = {}
    for key, value in entry.items():
        if key == "partner":
            continue
        if isinstance(value, Mapping):
            tables[key] = value
        else:
            lines.append(f"{key} = {_value(value)}")
    merged = {**dict(tables.pop("options", {})), **options}
    for name, table in tables.items():  # scope: a table of tables
        for sub, values in table.items():
            lines.append(f"[partners.{partner}.{name}.{sub}]")
            lines += [f"{k} = {_value(v)}" for k, v in values.items()]
    if merged:
        lines.append(f"[partners.{partner}.options]")
        lines += [f"{k} = {_value(v)}" for k, v in merged.items()]
    return "\n".join(lines) + "\n"


def simulate(
    world: World, partner: str, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`exchange simulate-partner P ARGS` in the world, its output in sim-P.log."""
    log = (world.root / f"sim-{partner}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "simulate-partner", partner, *args],
        env={**world.env, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    world.processes.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, as an operator stops it; its exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until `url` answers (any HTTP status); the process must stay up meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} ended ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"{url} not answering within {timeout} s:\n{log.read_text()[-3000:]}")


def trails(world: World, partner: str) -> dict[str, list[str]]:
    """Every message's audit events for `partner`, in order."""
    since, until = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
    out: dict[str, list[str]] = defaultdict(list)
    with open_store(world.audit_url) as store:
        for e in store.export(since, until, partner):
            out[e.message_id or ""].append(str(e.event))
    return dict(out)


def settled(world: World, partner: str) -> dict[str, list[str]]:
    return {mid: [e for e in t if e in SETTLED] for mid, t in trails(world, partner).items()}


def wait_for(what: str, done: Callable[[], bool], timeout: float = 90, logs: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}\n{logs()[-4000:]}")
        time.sleep(0.25)


def logs(world: World) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(world.root.glob("*.log")))
