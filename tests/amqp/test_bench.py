"""`exchange bench pipeline`: both runs go through every record on the real broker, and the
report holds what the issue asks for (records/s of both, ratio, latency, memory)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from exchange.cli import app

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


def test_the_pipeline_and_the_relay_each_finish_every_record() -> None:
    result = CliRunner().invoke(app, ["bench", "pipeline", "-n", "300"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["records"] == 300 and report["partner"] == "eu"
    assert report["pipelinePerSecond"] > 0 and report["relayPerSecond"] > 0
    assert report["ratio"] == pytest.approx(report["pipelinePerSecond"] / report["relayPerSecond"], abs=0.01)
    for run in ("pipelineLatencyMs", "relayLatencyMs"):
        assert 0 < report[run]["p50"] <= report[run]["p99"]
    assert report["documentBytes"] > 2000 and report["peakMemoryMiB"] > 0
    cpu = report["cpuMicrosPerRecord"]
    assert cpu["pipeline"]["main"] > 0 and cpu["relay"]["main"] > 0
    assert cpu["pipeline"]["conversion"] > 0  # the pool's process did the converting


def test_e2e_every_partner_acknowledges_every_record_once_with_a_step_by_step_report() -> None:
    """`exchange bench e2e` runs `exchange run` and the KR simulator on vhosts of its own."""
    from exchange.transports.amqp.provision import _ctl

    before = set(_ctl("list_vhosts").stdout.split())
    result = CliRunner().invoke(app, ["bench", "e2e", "--records", "200", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["partners"] == ["kr", "bri"]
    assert report["acknowledged"] == {"kr": 200, "bri": 200}
    assert report["lost"] == {"kr": 0, "bri": 0} and report["duplicated"] == 0
    assert report["recordsPerSecond"] > 0
    assert set(report["p99Ms"]) == {"kr", "bri"}
    steps = report["stepsMs"]
    for partner in ("kr", "bri"):  # stamped when each step happened: they come in order
        assert steps[f"VALIDATED ({partner})"]["p50"] <= steps[f"SEND_ENQUEUED ({partner})"]["p50"]
        assert steps[f"SEND_ENQUEUED ({partner})"]["p50"] <= steps[f"ACKNOWLEDGED ({partner})"]["p50"]
    assert steps["RECEIVED"]["p50"] <= steps["VALIDATED (kr)"]["p50"]
    assert report["brokerConfirmMs"]["p50"] > 0
    assert {"service", "conversion", "simulator"} <= set(report["cpuMicrosPerRecord"])
    assert report["cpuMicrosPerRecord"]["service"] > 0
    assert report["auditBytesPerRecord"] > 0
    left = {v for v in _ctl("list_vhosts").stdout.split() if v.startswith("mra-e2e-")}
    assert left <= before  # its world is gone (other runs' vhosts may come and go meanwhile)
