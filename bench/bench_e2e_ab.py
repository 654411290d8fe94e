"""Two checkouts of the service, end to end, in alternating rounds: CPU per record per
process and records/s of each, measured under the same load.

    python bench/bench_e2e_ab.py --before /tmp/base --after . [--rounds 3] [-- <bench e2e options>]

Each round runs `python -m exchange.cli bench e2e --json` once from each tree (PYTHONPATH set
to it; default options `--records 5000`), before first, then after. On a shared machine
wall-clock rates follow the load; CPU per record (read from /proc by bench e2e) moves far
less, and alternating puts both trees under the same drift. The median of the rounds is
reported per tree, with the load average of each run. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any


def run(tree: Path, options: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "bench", "e2e", "--json", *options],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"bench e2e failed in {tree}: {done.stderr[-2000:] or done.stdout[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    names = sorted({k for r in results for k in r["cpuMicrosPerRecord"]})
    cpu = {n: statistics.median(r["cpuMicrosPerRecord"].get(n, 0.0) for r in results) for n in names}
    return {
        "cpuMicrosPerRecord": {**cpu, "total": round(sum(cpu.values()), 1)},
        "recordsPerSecond": statistics.median(r["recordsPerSecond"] for r in results),
        "p99Ms": {
            p: statistics.median(r["p99Ms"].get(p, float("nan")) for r in results)
            for p in results[0]["p99Ms"]
        },
        "lost": sum(sum(r["lost"].values()) for r in results),
        "duplicated": sum(r["duplicated"] for r in results),
        "loadAverage": [r["loadAverage"]["before"] for r in results],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("options", nargs="*", help="bench e2e options (after --)")
    args = ap.parse_args()
    options = args.options or ["--records", "5000"]
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for i in range(args.rounds):
        for name in ("before", "after"):
            tree = args.before if name == "before" else args.after
            result = run(tree.resolve(), options)
            runs[name].append(result)
            cpu = ", ".join(f"{k} {v:,.0f}" for k, v in result["cpuMicrosPerRecord"].items())
            print(
                f"round {i + 1} {name:<6} {result['recordsPerSecond']:>8,.1f} records/s  CPU µs/record: "
                f"{cpu}  (load {result['loadAverage']['before']})",
                flush=True,
            )
    out = {name: summary(results) for name, results in runs.items()}
    print(json.dumps({"bench": "e2e-ab", "options": options, **out}))


if __name__ == "__main__":
    main()
