"""Audit database bytes per record (issue 17): `exchange bench e2e` (exchange run, the KR
simulator, kr and bri) on a new SQLite file, and on a new PostgreSQL schema when the server
answers:

    python bench/bench_storage.py [--records 2000] [--postgres postgresql://postgres@127.0.0.1/test]

Per back end: `auditBytesPerRecord` (the whole database over the records), the growth per
record over the measured records (without the fixed cost of empty tables), and the five
largest tables and indexes. The last line is JSON for machines.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(records: int, audit: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "exchange.cli",
            "bench",
            "e2e",
            "--json",
            "-n",
            str(records),
            "--audit",
            audit,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if not out.stdout.strip():
        raise SystemExit(out.stderr)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    a = parser.parse_args()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="mra-storage-") as tmp:
        results["sqlite"] = run(a.records, f"sqlite:///{Path(tmp) / 'audit.db'}")
    schema = f"bench_storage_{secrets.token_hex(4)}"
    try:
        import psycopg

        with psycopg.connect(a.postgres, connect_timeout=3, autocommit=True):
            pass
    except Exception as exc:  # no server: SQLite only, said so
        print(f"postgresql: not measured ({' '.join(str(exc).split())})")
    else:
        sep = "&" if "?" in a.postgres else "?"
        try:
            results["postgresql"] = run(a.records, f"{a.postgres}{sep}schema={schema}")
        finally:
            with psycopg.connect(a.postgres, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]
    for name, r in results.items():
        tables = r["auditBytesPerRecordByTable"]
        assert isinstance(tables, dict)
        top = ", ".join(f"{t} {n}" for t, n in list(tables.items())[:5])
        print(
            f"{name}: {r['auditBytesPerRecord']} bytes per record ({r['records']} records, kr and bri),"
            f" grew {r['auditBytesGrowthPerRecord']} per record; largest: {top}"
        )
    keys = ("auditBytesPerRecord", "auditBytesGrowthPerRecord")
    print(json.dumps({name: {k: r[k] for k in keys} for name, r in results.items()}))


if __name__ == "__main__":
    main()
