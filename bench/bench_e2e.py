"""End-to-end benchmark: `exchange bench e2e` (exchange run + the KR simulator on vhosts of
their own, kr and bri), the two runs the issue sets targets for:

    python bench/bench_e2e.py [--rate 200] [--seconds 120] [--records 20000]

a steady rate (p99 from publish to ACKNOWLEDGED per partner) and a burst (records/s
acknowledged by every partner). The last line is JSON for machines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "bench", "e2e", "--json", *args],
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
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--records", type=int, default=20_000)
    a = parser.parse_args()
    steady = run("--rate", str(a.rate), "--seconds", str(a.seconds))
    burst = run("--records", str(a.records))
    print(f"steady {a.rate:g}/s for {a.seconds:g} s: p99 publish->ACKNOWLEDGED {steady['p99Ms']} ms")
    print(f"burst {a.records:,}: {burst['recordsPerSecond']} records/s acknowledged by every partner")
    print(json.dumps({"steady": steady, "burst": burst}))


if __name__ == "__main__":
    main()
