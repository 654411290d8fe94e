"""`exchange pt score`: output, exit codes, and messages that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from exchange.cli import app
from exchange.model.pt import PtRound
from exchange.pt import score_round
from tests.pt.rounds import SAMPLE, round_dict, sample_dict

runner = CliRunner()


def write(tmp_path: Path, data: Any, name: str = "round.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_json_output_is_the_scoring_model() -> None:
    result = runner.invoke(app, ["pt", "score", str(SAMPLE)])
    assert result.exit_code == 0, result.stderr
    expected = score_round(PtRound.model_validate(sample_dict())).scoring
    assert expected is not None
    assert json.loads(result.stdout) == expected.model_dump(mode="json", by_alias=True)
    assert result.stderr == ""


def test_json_is_the_default_and_explicit_json_is_the_same() -> None:
    default = runner.invoke(app, ["pt", "score", str(SAMPLE)])
    explicit = runner.invoke(app, ["pt", "score", str(SAMPLE), "--format", "json"])
    assert default.stdout == explicit.stdout


def test_table_output_for_people() -> None:
    result = runner.invoke(app, ["pt", "score", str(SAMPLE), "--format", "table"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "TOY-PB-2019-03" in out
    assert "Algorithm A: x* = 89.2889" in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5}
    assert "3.30 !!" in lines["L06"]  # action
    assert "-3.57 !!" in lines["L10"]
    assert "!" not in lines["L01"]
    assert "<LOQ; censored" in lines["L12"]
    assert "! warning" in out


def test_table_marks_warnings(tmp_path: Path) -> None:
    data = round_dict(
        [{"lab": "A", "value": 12.5}, {"lab": "B", "value": 10.0}],
        assigned={"method": "reference", "value": 10.0},
    )
    result = runner.invoke(app, ["pt", "score", str(write(tmp_path, data)), "--format", "table"])
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ A "))
    assert "2.50 !" in row and "!!" not in row


def test_tighter_tolerance_option() -> None:
    result = runner.invoke(app, ["pt", "score", str(SAMPLE), "--tolerance", "1e-12"])
    assert result.exit_code == 0, result.stderr
    default = json.loads(runner.invoke(app, ["pt", "score", str(SAMPLE)]).stdout)
    assert json.loads(result.stdout)["algorithmA"]["iterations"] > default["algorithmA"]["iterations"]


# --- exit 1: the round cannot be scored, and stderr names the field ----------------------


def _with_result(**update: Any) -> dict[str, Any]:
    data = sample_dict()
    data["results"][3].update(update)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _with_result(k=-2),
            "results[3].k (lab L04): Input should be greater than 0 (got -2)",
        ),
        (
            _with_result(k=0),
            "results[3].k (lab L04): Input should be greater than 0 (got 0)",
        ),
        (
            _with_result(value=float("nan")),
            "results[3].value (lab L04): Input should be a finite number (got nan)",
        ),
        (
            _with_result(value=float("inf")),
            "results[3].value (lab L04): Input should be a finite number (got inf)",
        ),
        (
            _with_result(U=6.0, k=None),
            "results[3] (lab L04): result of L04: U needs its coverage factor k",
        ),
        (
            _with_result(colour="red"),
            "results[3].colour (lab L04): Extra inputs are not permitted (got 'red')",
        ),
        (
            {**sample_dict(), "sigmaPt": {"method": "fixed", "value": 0}},
            "sigmaPt.value: Input should be greater than 0 (got 0)",
        ),
        (
            {**sample_dict(), "sigmaPt": {"method": "fixed", "value": -4.0}},
            "sigmaPt.value: Input should be greater than 0 (got -4.0)",
        ),
        (
            {**sample_dict(), "sigmaPt": {"method": "fixed"}},
            "sigmaPt: sigmaPt.value is required when sigmaPt.method is fixed",
        ),
        ([1, 2, 3], "round: Input should be a valid dictionary or instance of PtRound"),
    ],
)
def test_invalid_round_exits_1_naming_the_field(tmp_path: Path, data: Any, message: str) -> None:
    path = write(tmp_path, data)
    result = runner.invoke(app, ["pt", "score", str(path)])
    assert result.exit_code == 1
    assert f"error: {path}: {message}\n" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            [1.0, 2.0],
            "record TEST-2024-01 field results: assigned.method is consensus: "
            "Algorithm A needs at least 3 results with a value, got 2",
        ),
        (
            [3.0, 3.0, 3.0, 3.5, 9.0],
            "record TEST-2024-01 field results: assigned.method is consensus: Algorithm A "
            "cannot start: the robust standard deviation s* is 0 because more than half",
        ),
    ],
)
def test_statistics_failure_exits_1(tmp_path: Path, values: list[float], message: str) -> None:
    data = round_dict([{"lab": f"L{n}", "value": v} for n, v in enumerate(values)])
    path = write(tmp_path, data)
    result = runner.invoke(app, ["pt", "score", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: {message}")


def test_disagreeing_reported_score_exits_1(tmp_path: Path) -> None:
    data = round_dict(
        [{"lab": "A", "value": 0.053, "z": 1.5}, {"lab": "B", "value": 0.013}],
        assigned={"method": "reference", "value": 0.044},
        sigma={"method": "fixed", "value": 0.0066},
    )
    result = runner.invoke(app, ["pt", "score", str(write(tmp_path, data))])
    assert result.exit_code == 1
    assert "field results[0].z: lab A: reported z = 1.5 disagrees with the computed z = 1.36364" in (
        result.stderr
    )


# --- exit 2: usage errors, unreadable or non-JSON input -------------------------------


def test_missing_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    result = runner.invoke(app, ["pt", "score", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: cannot read: No such file or directory\n"


def test_directory_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["pt", "score", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_non_json_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "round.json"
    path.write_text('{"scheme": "X",\n  oops}', encoding="utf-8")
    result = runner.invoke(app, ["pt", "score", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: not JSON: ")
    assert "line 2 column 3" in result.stderr


def test_non_utf8_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "round.json"
    path.write_bytes(json.dumps(sample_dict(), ensure_ascii=False).encode("gb18030"))
    result = runner.invoke(app, ["pt", "score", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: not UTF-8 text")


def test_utf8_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "round.json"
    path.write_bytes(b"\xef\xbb\xbf" + SAMPLE.read_bytes())
    assert runner.invoke(app, ["pt", "score", str(path)]).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["pt", "score"],
        ["pt", "score", str(SAMPLE), "--format", "xml"],
        ["pt", "score", str(SAMPLE), "--tolerance", "0"],
        ["pt", "score", str(SAMPLE), "--tolerance", "-1"],
        ["pt", "score", str(SAMPLE), "--bogus"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 2
