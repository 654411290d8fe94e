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
