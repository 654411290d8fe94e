"""`exchange bench e2e`: records through `exchange run` to every partner and back, timed
from the audit trail.

A world of its own (a service vhost and one vhost per AMQP partner, made with rabbitmqctl
and deleted afterwards, as the broker tests make theirs), `exchange run` and a partner
simulator per AMQP partner as subprocesses, stream partners read from their feed. Records
are published with pipelined confirms, at a steady rate or all at once; the run ends when
every partner's delivery state says ACKNOWLEDGED for every record (or at a timeout).

Reported: records/s acknowledged by every partner, p50/p99 from publish of each step in the
trail (each entry is stamped when its step happened), the broker's own publish-confirm
round trip in the same run, CPU per record of each process (read from /proc) and audit
database bytes per record.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
from pika.spec import BasicProperties

from exchange.audit import AuditEvent, open_store
from exchange.config import ExchangeConfig, load_config
from exchange.errors import ExchangeError
from exchange.service.bench import sample_certificate
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.cpu import CpuMeter, broker_pid, children
from exchange.service.settings import with_vhost
from exchange.service.topology import DOMESTIC_IN
from exchange.state import State, StateStore
from exchange.transports.amqp.provision import PartnerVhost, _ctl, provision

STEPS = (
    AuditEvent.RECEIVED,
    AuditEvent.CONVERTED,
    AuditEvent.VALIDATED,
    AuditEvent.SEND_ENQUEUED,
    AuditEvent.SEND_IN_PROGRESS,
    AuditEvent.WAITING_FOR_RECEIPT,
    AuditEvent.ACKNOWLEDGED,
)
WARMUP = 20
"""Records through the whole path before the measured ones."""


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# -- the world -----------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(table: Mapping[str, Any], prefix: str = "") -> str:
    """Enough TOML for an agreements file (strings, numbers, lists, nested tables)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    out = "\n".join(lines) + "\n"
    for k, v in table.items():
        if isinstance(v, dict):
            name = f"{prefix}.{k}" if prefix else k
            out += f"\n[{name}]\n" + to_toml(v, name)
    return out


@dataclass
class World:
    root: Path
    url: str
    audit_url: str
    config_path: Path
    partners: list[str]
    amqp_partners: dict[str, tuple[PartnerVhost, str]]
    """Partner -> (its vhost, the partner user's password)."""
    vhosts: list[str]
    users: list[str]


def make_world(config: ExchangeConfig, partners: list[str], base_url: str, root: Path) -> World:
    """A service vhost and one per AMQP partner, all new; the agreements file for them."""
    if config.path is None:
        raise ExchangeError("bench e2e needs the agreements file")
    raw = tomllib.loads(config.path.read_text("utf-8"))
    suffix = uuid.uuid4().hex[:8]
    vhost = f"mra-e2e-{suffix}"
    folder = config.path.parent
    for key in ("categories",):  # paths in the file are relative to it: keep them so
        if key in raw and not Path(raw[key]).is_absolute() and (folder / raw[key]).exists():
            raw[key] = str(folder / raw[key])
    selected: dict[str, Any] = {}
    amqp: dict[str, tuple[PartnerVhost, str]] = {}
    vhosts, users = [vhost], []
    _check(_ctl("add_vhost", vhost))
    user = _user(base_url)
    _check(_ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*"))
    for p in partners:
        entry = dict(raw["partners"][p])
        if entry.get("transport") == "amqp":
            entry["options"] = {
                **entry.get("options", {}),
                "vhost": f"mra-e2e-{p}-{suffix}",
                "user": f"{p}-e2e-{suffix}",
            }
        selected[p] = entry
    raw["partners"] = selected
    config_path = root / "agreements.toml"
    config_path.write_text(to_toml(raw), encoding="utf-8")
    cfg = load_config(config_path)
    for p in partners:
        if cfg.partners[p].transport == "amqp":
            pv = PartnerVhost.of(cfg.partners[p])
            password = secrets.token_hex(16)
            vhosts.append(pv.vhost)
            users.append(pv.user)
            provision(pv, password, user)
            amqp[p] = (pv, password)
    audit_url = f"sqlite:///{root / 'audit.db'}"
    return World(root, with_vhost(base_url, vhost), audit_url, config_path, partners, amqp, vhosts, users)


def remove_world(world: World) -> None:
    for v in world.vhosts:
        _ctl("delete_vhost", v)
    for u in world.users:
        _ctl("delete_user", u)


def _user(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).username or "guest"


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise ExchangeError(f"rabbitmqctl failed: {result.stderr.strip() or result.stdout.strip()}")


# -- publishing ------------------------------------------------------------------------------


@dataclass
class Published:
    at_us: dict[str, int] = field(default_factory=dict)
    """Message id -> wall clock when it was published."""
    confirm_ms: list[float] = field(default_factory=list)
    failed: int = 0
    first_us: int = 0
    last_us: int = 0


def publish(url: str, bodies: list[tuple[str, bytes]], rate: float | None, window: int = 1000) -> Published:
    """Publish with pipelined confirms: `rate` per second on a 5 ms tick, or (None) as fast as
    a window of `window` unconfirmed messages allows. The confirm round trip is the broker's."""
    out = Published()
    todo: Iterator[tuple[str, bytes]] = iter(bodies)
    total = len(bodies)
    state: dict[str, Any] = {"pub": None, "sent": 0, "done": 0, "t0": 0.0}

    def publish_one(mid: str, body: bytes) -> None:
        sent = time.perf_counter()

        def done(ok: bool, _reason: str | None) -> None:
            state["done"] += 1
            if ok:
                out.confirm_ms.append((time.perf_counter() - sent) * 1000)
            else:
                out.failed += 1
            if state["done"] == total:
                conn.close()
            elif rate is None:
                pump()

        now = time.time_ns() // 1000
        out.at_us[mid] = now
        out.first_us = out.first_us or now
        out.last_us = now
        state["sent"] += 1
        props = BasicProperties(delivery_mode=2, message_id=mid, type="ccc")
        state["pub"].publish(DOMESTIC_IN, "ccc", body, props, done)

    def pump() -> None:
        pub: ConfirmingPublisher = state["pub"]
        if rate is None:
            while pub.in_flight < window and state["sent"] < total:
                publish_one(*next(todo))
            return
        due = min(total, int((time.perf_counter() - state["t0"]) * rate) + 1)
        while state["sent"] < due:
            publish_one(*next(todo))
        if state["sent"] < total:
            conn.ioloop.call_later(0.005, pump)

    def on_channel(ch: Any) -> None:
        state["pub"] = ConfirmingPublisher(ch)
        state["t0"] = time.perf_counter()
        if total == 0:
            conn.close()
            return
        pump()

    def on_open(c: Any) -> None:
        c.channel(on_open_callback=on_channel)

    conn = pika.SelectConnection(
        pika.URLParameters(url),
        on_open_callback=on_open,
        on_open_error_callback=lambda c, e: c.ioloop.stop(),
        on_close_callback=lambda c, e: c.ioloop.stop(),
    )
    conn.ioloop.start()
    return out


def domestic_bodies(count: int) -> list[tuple[str, bytes]]:
    """`count` distinct CCC certificates (E&E, so every partner of the shipped agreements takes them)."""
    sample = sample_certificate()
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(count):
        record = dict(sample)
        record["certNo"] = f"2019010907{i % 1_000_000:06d}"
        out.append((f"e2e-{run}-{i}", json.dumps(record, ensure_ascii=False).encode()))
    return out


# -- the run ----------------------------------------------------------------------------------


def _wait_consumers(url: str, queue: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            conn = pika.BlockingConnection(pika.URLParameters(url))
            try:
                if (conn.channel().queue_declare(queue, passive=True).method.consumer_count or 0) >= 1:
                    return
            finally:
                if conn.is_open:
                    conn.close()
        except pika.exceptions.AMQPError:
            pass
        time.sleep(0.2)
    raise ExchangeError(f"exchange run did not start consuming {queue}")


def _acknowledged(state: StateStore, partners: list[str]) -> dict[str, int]:
    return {p: state.counts(p).get(State.ACKNOWLEDGED.value, 0) for p in partners}


def bench_e2e(
    config: ExchangeConfig,
    amqp_url: str,
    *,
    rate: float | None,
    seconds: float,
    records: int | None,
    partners: list[str] | None = None,
    timeout_s: float = 300.0,
    audit_url: str | None = None,
) -> dict[str, Any]:
    chosen = partners or [p for p, a in config.partners.items() if a.transport in ("amqp", "stream")]
    count = records if records is not None else int((rate or 0) * seconds)
    if count <= 0:
        raise ExchangeError("nothing to publish: give --records, or --rate and --seconds")

    def stopped(_signo: int, _frame: Any) -> None:
        raise SystemExit(143)  # SIGTERM (a timeout): still stop the processes, remove the world

    previous = signal.signal(signal.SIGTERM, stopped)
    with tempfile.TemporaryDirectory(prefix="mra-e2e-") as tmp:
        world = make_world(config, chosen, amqp_url, Path(tmp))
        if audit_url is not None:  # a new SQLite file, or a new PostgreSQL schema, of the caller's
            world.audit_url = audit_url
        procs: list[subprocess.Popen[bytes]] = []
        try:
            return _run(world, procs, count, rate, timeout_s)
        finally:
            signal.signal(signal.SIGTERM, previous)
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            remove_world(world)


def _run(
    world: World, procs: list[subprocess.Popen[bytes]], count: int, rate: float | None, timeout_s: float
) -> dict[str, Any]:
    env = {
        **os.environ,
        "EXCHANGE_CONFIG": str(world.config_path),
        "EXCHANGE_AUDIT_URL": world.audit_url,
        "EXCHANGE_AMQP_URL": world.url,
    }
    sims: dict[str, subprocess.Popen[bytes]] = {}
    for p, (_pv, password) in world.amqp_partners.items():
        sims[p] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exchange.cli",
                "simulate-partner",
                p,
                "--stats",
                str(world.root / f"{p}.json"),
            ],
            env={**env, "EXCHANGE_PARTNER_PASSWORD": password},
            stdout=(world.root / f"sim-{p}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        procs.append(sims[p])
    service = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "run", "--no-http"],
        env=env,
        stdout=(world.root / "run.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    procs.append(service)
    try:
        _wait_consumers(world.url, "mra.intake", time.monotonic() + 60)
        for pv, _ in world.amqp_partners.values():
            _wait_consumers(with_vhost(world.url, pv.vhost), pv.inbound_queue, time.monotonic() + 30)
    except ExchangeError as exc:
        raise ExchangeError(f"{exc}: {_tail(world.root / 'run.log')}") from None
    state = StateStore(world.audit_url)
    # A few records first: the conversion process starts with the first batch, and the
    # clock should not count imports and compiling the formats.
    warm = publish(world.url, domestic_bodies(WARMUP), None)
    deadline = time.monotonic() + 60
    while min(_acknowledged(state, world.partners).values()) < WARMUP and time.monotonic() < deadline:
        time.sleep(0.1)
    if warm.failed or min(_acknowledged(state, world.partners).values()) < WARMUP:
        raise ExchangeError("the warm-up records were not acknowledged: " + _tail(world.root / "run.log"))
    used_before = audit_used_bytes(world)
    rabbit = broker_pid()
    meter = CpuMeter(
        {
            "service": [service.pid],
            "conversion": children(service.pid),
            "simulator": [s.pid for s in sims.values()],
            **({"rabbitmq": [rabbit]} if rabbit else {}),
        }
    )
    bodies = domestic_bodies(count)
    load_before = os.getloadavg()
    meter.start()
    published = publish(world.url, bodies, rate)
    deadline = time.monotonic() + timeout_s
    acked = _acknowledged(state, world.partners)
    while min(acked.values()) < count + WARMUP and time.monotonic() < deadline:
        time.sleep(0.25)
        acked = _acknowledged(state, world.partners)
    acked = {p: n - WARMUP for p, n in acked.items()}
    timed_out = min(acked.values()) < count
    meter.stop()
    load_after = os.getloadavg()
    state.close()
    service.terminate()
    service.wait(timeout=60)
    for s in sims.values():
        s.terminate()
        s.wait(timeout=30)
    report = _report(world, published, acked, meter, count, rate, load_before, load_after)
    report["timedOut"] = timed_out  # then "lost" counts the records still unacknowledged
    report["auditBytesGrowthPerRecord"] = round((audit_used_bytes(world) - used_before) / count)
    return report


def _report(
    world: World,
    published: Published,
    acked: dict[str, int],
    meter: CpuMeter,
    count: int,
    rate: float | None,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> dict[str, Any]:
    store = open_store(world.audit_url)
    since = datetime.fromtimestamp(published.first_us / 1e6 - 60, tz=UTC)
    steps: dict[str, list[float]] = defaultdict(list)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    last_ack_us = 0
    wanted = set(STEPS)
    for row in store.export(since, None):
        mid = row.message_id
        if row.event not in wanted or mid is None or mid not in published.at_us:
            continue
        t_us = int(row.time.timestamp() * 1_000_000)
        key = f"{row.event.value}" if row.partner is None else f"{row.event.value} ({row.partner})"
        steps[key].append((t_us - published.at_us[mid]) / 1000)
        if row.event is AuditEvent.ACKNOWLEDGED and row.partner:
            seen[(mid, row.partner)] += 1
            last_ack_us = max(last_ack_us, t_us)
    store.close()
    sims = {}
    for p in world.amqp_partners:
        path = world.root / f"{p}.json"
        sims[p] = json.loads(path.read_text()) if path.exists() else {}
    duplicated = sum(n - 1 for n in seen.values() if n > 1) + sum(
        int(s.get("duplicates", 0)) for s in sims.values()
    )
    lost = {p: count - len({m for (m, q) in seen if q == p}) for p in world.partners}
    span_s = max(1e-9, (last_ack_us - published.first_us) / 1e6)
    total, tables = audit_bytes(world)
    size = total / (count + WARMUP)
    ack_keys = [f"{AuditEvent.ACKNOWLEDGED.value} ({p})" for p in world.partners]
    return {
        "bench": "e2e",
        "mode": "burst" if rate is None else "steady",
        "rate": rate,
        "records": count,
        "partners": world.partners,
        "acknowledged": acked,
        "lost": lost,
        "duplicated": duplicated,
        "recordsPerSecond": round(count / span_s, 1),
        "publishedPerSecond": round(count / max(1e-9, (published.last_us - published.first_us) / 1e6), 1),
        "p99Ms": {
            k.split(" (")[1][:-1]: round(percentile(steps[k], 99), 1) for k in ack_keys if steps.get(k)
        },
        "p50Ms": {
            k.split(" (")[1][:-1]: round(percentile(steps[k], 50), 1) for k in ack_keys if steps.get(k)
        },
        "stepsMs": {
            k: {"p50": round(percentile(v, 50), 1), "p99": round(percentile(v, 99), 1)}
            for k, v in sorted(steps.items())
        },
        "brokerConfirmMs": {
            "p50": round(percentile(published.confirm_ms, 50), 2),
            "p99": round(percentile(published.confirm_ms, 99), 2),
        },
        "cpuMicrosPerRecord": {name: round(sec * 1e6 / count, 1) for name, sec in meter.used.items()},
        "auditBytesPerRecord": round(size),
        "auditBytesPerRecordByTable": {
            name: round(n / (count + WARMUP)) for name, n in sorted(tables.items(), key=lambda t: -t[1]) if n
        },
        "loadAverage": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        "cpuCores": os.cpu_count(),
        "note": "RabbitMQ is the machine's shared broker: its CPU includes anything else it served meanwhile",
    }


def audit_used_bytes(world: World) -> int:
    """Bytes the audit database's tables and indexes use now (SQLite: its pages, WAL
    included; PostgreSQL: every relation of the schema): what a record adds is the
    difference between two readings, without the fixed cost of empty tables."""
    total, tables = audit_bytes(world)
    return total if world.audit_url.startswith("postgres") else sum(tables.values())


def audit_bytes(world: World) -> tuple[int, dict[str, int]]:
    """Bytes the audit database takes (every table and index of it), and per relation."""
    from exchange.audit.url import SqliteTarget, parse_audit_url

    target = parse_audit_url(world.audit_url)
    if isinstance(target, SqliteTarget):
        db = target.path or world.root / "audit.db"
        tables = _checkpoint(db)
        return sum(f.stat().st_size for f in db.parent.glob(f"{db.name}*")), tables
    import psycopg

    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid), c.relkind FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'i')",
            (target.schema,),
        ).fetchall()
    total = sum(int(size) for _name, size, kind in rows if kind == "r")  # a table's total has its indexes
    return total, {str(name): int(size) for name, size, _kind in rows}


def _checkpoint(db: Path) -> dict[str, int]:
    """Fold the WAL into the file, so its size is what the data takes; bytes per table and
    index (SQLite's dbstat), to say where they go."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:  # built without dbstat
            rows = []
    finally:
        conn.close()
    return {str(name): int(size) for name, size in rows}


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"
