"""The command line as users meet it: exit codes, files written, messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange.audit import open_store
from exchange.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
ALL = ["--partner", "eu", "--partner", "kr", "--partner", "nz", "--partner", "bri"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _convert(runner: CliRunner, tmp_path: Path, *files: Path, extra: list[str] | None = None):  # type: ignore[no-untyped-def]
    audit = f"sqlite:///{tmp_path / 'audit.db'}"
    args = ["convert", *map(str, files), *(extra or ALL), "--out", str(tmp_path / "out"), "--audit", audit]
    return runner.invoke(app, args), audit


def test_convert_the_samples_for_every_partner(runner: CliRunner, tmp_path: Path) -> None:
    files = [SAMPLES / n for n in ("ccc.jsonl", "ccc-export-gb18030.csv", "glp.json", "pt-round.json")]
    result, audit = _convert(runner, tmp_path, *files)
    assert result.exit_code == 1, result.output  # one CSV row has a 15-digit certificate number
    out = tmp_path / "out"
    assert (out / "eu" / "ccc-2019010907123456.xml").is_file()
    assert (out / "kr" / "ccc-2020011608000123.xml").is_file()
    assert (out / "nz" / "ccc-2018010901987654.xml").is_file()
    assert (out / "bri" / "ccc-2019010907123456.jsonld").is_file()
    assert (out / "eu" / "pt-TOY-PB-2019-03.xml").is_file()
    assert len(list((out / "eu").glob("glp-CN-20190630-*.xml"))) == 1
    assert not list((out / "kr").glob("glp-*")) and not list((out / "nz").glob("pt-*"))
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text("utf-8").splitlines()]
    assert len(rejects) == 1
    assert rejects[0]["field"] == "证书编号" and rejects[0]["location"] == "line 3"
    assert rejects[0]["source"].endswith("ccc-export-gb18030.csv")
    assert "not converted: glp-" in result.output and "for kr" in result.output
    with open_store(audit) as store:
        events = [e.event for e in store.trace("2019010907123456")]
    assert events.count("RECEIVED") == 2  # from the JSON Lines file and from the CSV
    assert events.count("VALIDATED") == 8 and events.count("CONVERTED") == 8
    assert "REJECTED" in [e.event for e in open_store(audit).trace("202101120300456")]


def test_every_written_document_validates_and_imports_back(runner: CliRunner, tmp_path: Path) -> None:
    _convert(runner, tmp_path, SAMPLES / "ccc.jsonl", SAMPLES / "glp.json", SAMPLES / "pt-round.json")
    written = sorted(p for p in (tmp_path / "out").rglob("*") if p.suffix in (".xml", ".jsonld"))
    assert len(written) == 3 * 4 + 1 * 2 + 1 * 3  # certificates x4, GLP x2, PT x3
    result = runner.invoke(app, ["validate", *map(str, written)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": valid (") == len(written)
    xml_only = [p for p in written if p.suffix == ".xml"]
    result = runner.invoke(app, ["import", *map(str, xml_only), "--out", str(tmp_path / "canonical")])
    assert result.exit_code == 0, result.output
    back = json.loads((tmp_path / "canonical" / "ccc-2019010907123456.json").read_text("utf-8"))
    assert back["certNo"] == "2019010907123456" and back["status"] == "VALID"


def test_all_good_input_exits_zero(runner: CliRunner, tmp_path: Path) -> None:
    result, _ = _convert(runner, tmp_path, SAMPLES / "ccc.jsonl", extra=["--partner", "eu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "rejects.jsonl").read_text() == ""
    assert "3 records read; documents written: eu: 3; rejected: 0" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partner", "xx"], "unknown partner xx"),
        (["--partner", "eu", "--encoding", "utf-8"], "utf-8"),
    ],
)
def test_usage_errors_exit_two(runner: CliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    result, _ = _convert(runner, tmp_path, SAMPLES / "ccc-export-gb18030.csv", extra=args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_missing_file_exits_two(runner: CliRunner, tmp_path: Path) -> None:
    result, _ = _convert(runner, tmp_path, tmp_path / "nope.jsonl")
    assert result.exit_code == 2 and "no such file" in result.output


def test_validate_reports_line_and_column(runner: CliRunner, tmp_path: Path) -> None:
    _convert(runner, tmp_path, SAMPLES / "ccc.jsonl", extra=["--partner", "eu"])
    doc = tmp_path / "out" / "eu" / "ccc-2019010907123456.xml"
    bad = tmp_path / "bad.xml"
    bad.write_bytes(doc.read_bytes().replace(b"<eu:Status>VALID<", b"<eu:Status>GOOD<"))
    result = runner.invoke(app, ["validate", str(doc), str(bad)])
    assert result.exit_code == 1
    assert f"{doc}: valid (eu ccc)" in result.output
    assert f"{bad}: invalid" in result.output, result.output
    assert f"{bad}:2:" in result.output and "GOOD" in result.output


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>', "DOCTYPE"),
        (b"<a>" * 100 + b"</a>" * 100, "nested deeper"),
        (b"<a>" + b"x" * (9 * 1024 * 1024) + b"</a>", "too large"),
        (b"<unknown xmlns='urn:nobody'/>", "no partner format"),
        (b'{"type": ["Nothing"]}', ""),
    ],
)
def test_hostile_documents_are_refused_and_nothing_is_written(
    runner: CliRunner, tmp_path: Path, body: bytes, message: str
) -> None:
    path = tmp_path / "hostile.xml"
    path.write_bytes(body)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1 and message in result.output
    out = tmp_path / "canonical"
    result = runner.invoke(app, ["import", str(path), "--out", str(out)])
    assert result.exit_code == 1 and message in result.output
    assert not out.exists() or not any(out.iterdir())


def test_validate_a_missing_file_exits_two(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.xml")])
    assert result.exit_code == 2


def test_a_pt_export_whose_scores_disagree_is_rejected_with_both_values(
    runner: CliRunner, tmp_path: Path
) -> None:
    round_ = json.loads((SAMPLES / "pt-round.json").read_text("utf-8"))
    round_["results"][0]["z"] = 9.99  # the provider's own z for L01, far from ours
    path = tmp_path / "pt.json"
    path.write_text(json.dumps(round_, ensure_ascii=False), encoding="utf-8")
    result, _ = _convert(runner, tmp_path, path, extra=["--partner", "eu", "--partner", "kr"])
    assert result.exit_code == 1, result.output
    (reject,) = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text("utf-8").splitlines()]
    assert reject["record_id"] == "TOY-PB-2019-03"
    assert "9.99" in reject["reason"] and "L01" in reject["reason"]
    assert not list((tmp_path / "out").glob("*/pt-*"))  # nothing written for any partner
