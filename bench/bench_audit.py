"""Audit append throughput, per back end, batched and single (flush after every entry).

    python bench/bench_audit.py [--n 50000] [--single-n 2000] [--postgres URL]

Batched is the pipeline's way (append, flush before acknowledging a batch of work);
single is the worst case, one durable commit per entry. Prints a line per case and a JSON
line at the end. PostgreSQL runs in a throw-away schema, dropped afterwards; when the
server cannot be reached its figures are null and the reason is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import tempfile
import time
from pathlib import Path

from exchange.audit import AuditEntry, AuditEvent, open_store, sha256_hex

DEFAULT_PG = os.environ.get("EXCHANGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _entries(n: int) -> list[AuditEntry]:
    """Entries shaped like the pipeline's: ids, a partner, small details, a doc hash."""
    doc = sha256_hex(b"<certificate/>")
    events = list(AuditEvent)
    return [
        AuditEntry(
            events[i % len(events)],
            message_id=f"msg-{i // 4:08d}",
            record_id=f"CCC-2026-{i // 4:08d}",
            partner="eu",
            details={"agreement": "eu-ccc", "attempt": 1, "worker": "w1"},
            doc_sha256=doc,
        )
        for i in range(n)
    ]


def _run(url: str, n: int, *, single: bool) -> tuple[float, float]:
    """(appends/s, entries verified/s)."""
    entries = _entries(n)
    with open_store(url, batch_size=1000) as store:
        start = time.perf_counter()
        if single:
            for e in entries:
                store.append(e)
                store.flush()
        else:
            for e in entries:
                store.append(e)
            store.flush()
        elapsed = time.perf_counter() - start
        start = time.perf_counter()
        report = store.verify()
        verify_elapsed = time.perf_counter() - start
        assert report.ok and report.entries == n, report
    return n / elapsed, n / verify_elapsed


def _drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _case(
    backend: str,
    mode: str,
    n: int,
    url: str,
    appends: dict[str, int | None],
    verify: dict[str, int],
) -> None:
    name = f"{backend}_{mode}"
    try:
        rate, verify_rate = _run(url, n, single=mode == "single")
    except Exception as e:  # an unreachable server: say so, keep the other figures
        print(f"{backend:9} {mode:8} skipped: {' '.join(str(e).split())}")
        appends[name] = None
        return
    appends[name] = round(rate)
    line = f"{backend:9} {mode:8} {n:7d} entries  {rate:10,.0f} appends/s"
    if mode == "batched":
        verify[backend] = round(verify_rate)
        line += f"   (verify {verify_rate:,.0f} entries/s)"
    print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000, help="entries for the batched runs")
    ap.add_argument("--single-n", type=int, default=2_000, help="entries for the single runs")
    ap.add_argument("--postgres", default=DEFAULT_PG, help="server URL (no schema parameter)")
    args = ap.parse_args()
    appends: dict[str, int | None] = {}
    verify: dict[str, int] = {}
    modes = (("batched", args.n), ("single", args.single_n))
    with tempfile.TemporaryDirectory() as tmp:
        for mode, n in modes:
            url = f"sqlite:///{Path(tmp, f'{mode}.db')}"
            _case("sqlite", mode, n, url, appends, verify)
    sep = "&" if "?" in args.postgres else "?"
    for mode, n in modes:
        schema = f"bench_audit_{secrets.token_hex(4)}"
        try:
            _case("postgres", mode, n, f"{args.postgres}{sep}schema={schema}", appends, verify)
        finally:
            with contextlib.suppress(Exception):
                _drop_schema(args.postgres, schema)
    print(json.dumps({"appends_per_s": appends, "verify_entries_per_s": verify}))


if __name__ == "__main__":
    main()
