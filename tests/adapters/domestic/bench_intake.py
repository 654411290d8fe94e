"""Records/s of domestic intake alone: `python -m tests.adapters.domestic.bench_intake [N]`.

Not collected by pytest (the name does not start with test_); test_streaming.py
keeps a smaller floor check in the suite.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from adapters.domestic import source
from exchange.intake import Accepted
from tests.adapters.domestic.synth import write_csv, write_jsonl


def measure(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    accepted = sum(isinstance(item, Accepted) for item in source.read(path))
    return accepted, accepted / (time.perf_counter() - start)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = write_jsonl(Path(tmp) / "ccc.jsonl", count)
        csv = write_csv(Path(tmp) / "ccc.csv", count=count, country=True)
        for path in (jsonl, csv):
            measure(path)  # warm up
            accepted, rate = measure(path)
            print(f"{path.name}: {accepted} records accepted, {rate:,.0f} records/s")


if __name__ == "__main__":
    main()
