"""Intake streams: memory stays flat however long the file, and it is fast enough."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import orjson
import pytest

from adapters.domestic import source
from exchange.intake import Accepted
from tests.adapters.domestic.synth import write_csv, write_jsonl


def _peak_growth(path: Path) -> tuple[int, int]:
    """(records accepted, peak traced bytes above what was traced before) for one read."""
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    accepted = sum(isinstance(item, Accepted) for item in source.read(path))
    _, peak = tracemalloc.get_traced_memory()
    return accepted, peak - before


@pytest.mark.slow
def test_csv_memory_flat_10k_vs_200k(tmp_path: Path) -> None:
    small = write_csv(tmp_path / "small.csv", count=10_000, country=True)
    big = write_csv(tmp_path / "big.csv", count=200_000, country=True)
    # Warm up, traced, on other records: code lists, the date cache and pydantic-core's
    # own string cache (16384 entries, ~1 MB) reach their steady size first, so
    # entries it swaps later do not count as growth.
    warm = write_csv(tmp_path / "warm.csv", count=20_000, start=500_000, country=True)
    tracemalloc.start()
    try:
        list(source.read(warm))
        n_small, peak_small = _peak_growth(small)
        n_big, peak_big = _peak_growth(big)
    finally:
        tracemalloc.stop()
    assert (n_small, n_big) == (10_000, 200_000)
    assert peak_big / peak_small < 1.5, (peak_small, peak_big)


@pytest.mark.slow
def test_jsonl_intake_speed(tmp_path: Path) -> None:
    """Intake alone must leave room in the end-to-end budget: measured against bare orjson
    parsing of the same lines in the same process (best of three alternating rounds, so a
    busy machine slows both), it stays above a twentieth (about 0.07 here)."""
    path = write_jsonl(tmp_path / "x.jsonl", 20_000)
    list(source.read(path))  # warm up
    rates, baselines = [], []
    for _ in range(3):
        start = time.perf_counter()
        accepted = sum(isinstance(item, Accepted) for item in source.read(path))
        rates.append(accepted / (time.perf_counter() - start))
        start = time.perf_counter()
        with path.open("rb") as fh:
            parsed = sum(1 for line in fh if orjson.loads(line))
        baselines.append(parsed / (time.perf_counter() - start))
    assert accepted == parsed == 20_000
    ratio = max(rates) / max(baselines)
    assert ratio > 0.05, f"{max(rates):.0f} records/s against {max(baselines):.0f} parsed: {ratio:.3f}"
