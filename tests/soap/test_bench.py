"""`exchange bench soap`: both legs of both benchmarks run, over real loopback HTTP, and every
request is answered (counts, not timings)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import structlog
from typer.testing import CliRunner

from exchange.audit import open_store
from exchange.cli import app
from exchange.transports.soap_push.bench import WARMUP, bench_soap


def test_the_report_counts_every_request_answered(tmp_path: Path) -> None:
    audit_url = f"sqlite:///{tmp_path / 'audit.db'}"
    report = bench_soap(12, audit_url, rounds=3)
    for key in ("submit", "deliver"):
        for leg in (key, f"{key}_baseline"):
            assert report[leg]["requests"] == report[leg]["answered"] == 12, leg
            assert report[leg]["seconds"] > 0
        assert report[f"{key}_per_s"] > 0 and report[f"{key}_baseline_per_s"] > 0
        expected = round(report[f"{key}_per_s"] / report[f"{key}_baseline_per_s"], 3)
        assert abs(report[f"{key}_ratio"] - expected) < 0.01
        assert report[f"{key}_warmup_answered"] == 2 * WARMUP
    # the simulated partner took each delivery once, all signed by us (documents and, verified
    # by zeep, messages) and acknowledged
    assert report["ws_security"] is True
    assert report["partner"] == {
        "messages": 2 * (12 + WARMUP),
        "acknowledged": 2 * (12 + WARMUP),
        "rejected": 0,
        "duplicates": 0,
        "wss_verified": 2 * (12 + WARMUP),
        "wss_refused": 0,
    }
    assert report["audit"] == "as given"
    # every submission, zeep's and the bare ones, went the whole way on the server
    with open_store(audit_url) as audit:
        events = Counter(str(e.event) for e in audit.export(None, None))
    assert events["DELIVERED_DOMESTIC"] == events["RECEIVED"] == 2 * (12 + WARMUP)
    assert events["REJECTED"] == 0


def test_the_command_prints_a_table_or_json() -> None:
    saved = structlog.get_config()  # the command sets logging up for its run: undo it after
    try:
        _command()
    finally:
        structlog.configure(**saved)


def _command() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "soap", "--count", "3", "--rounds", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["submit"]["answered"] == report["deliver_baseline"]["answered"] == 3
    table = runner.invoke(app, ["bench", "soap", "--count", "2", "--rounds", "1"])
    assert table.exit_code == 0, table.output
    assert "SubmitDocument" in table.stdout and "ratio" in table.stdout
    assert runner.invoke(app, ["bench", "soap", "--count", "0"]).exit_code == 2
