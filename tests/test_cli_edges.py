"""The command line at its edges: outputs that cannot be written, folders as inputs, a
simulator without a broker. One clear line and exit 2, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from exchange.audit import open_store
from exchange.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
runner = CliRunner()


def _convert(tmp_path: Path, *args: str | Path) -> tuple[int, str]:
    audit = f"sqlite:///{tmp_path / 'audit.db'}"
    result = runner.invoke(app, ["convert", *map(str, args), "--audit", audit])
    return result.exit_code, result.output


def _sources(tmp_path: Path) -> list[str]:
    with open_store(f"sqlite:///{tmp_path / 'audit.db'}") as store:
        return [
            Path(str(e.details["source"])).name for e in store.export(None, None) if e.event == "RECEIVED"
        ]


def test_an_output_that_cannot_be_written_is_one_line_and_exit_two(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, output = _convert(tmp_path, SAMPLES / "ccc.jsonl", "--partner", "eu", "--out", blocker / "out")
    assert code == 2, output
    assert "cannot write" in output and str(blocker / "out") in output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1

    _convert(tmp_path, SAMPLES / "ccc.jsonl", "--partner", "eu", "--out", tmp_path / "ok")
    doc = next((tmp_path / "ok" / "eu").glob("*.xml"))
    result = runner.invoke(app, ["import", str(doc), "--out", str(blocker / "canonical")])
    assert result.exit_code == 2 and "cannot write" in result.output and "Traceback" not in result.output


def test_a_folder_is_its_supported_files_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    (folder / "later").mkdir(parents=True)
    shutil.copy(SAMPLES / "glp.json", folder / "b-glp.json")
    shutil.copy(SAMPLES / "ccc.jsonl", folder / "a-ccc.jsonl")
    shutil.copy(SAMPLES / "pt-round.json", folder / "later" / "c-pt.json")
    (folder / "notes.txt").write_text("not an export")
    code, output = _convert(tmp_path, folder, "--partner", "eu", "--out", tmp_path / "out")
    assert code == 0, output
    assert _sources(tmp_path) == ["a-ccc.jsonl"] * 3 + ["b-glp.json"]  # no sub-folder, no .txt
    (tmp_path / "audit.db").unlink()
    code, output = _convert(tmp_path, folder, "--recursive", "--partner", "eu", "--out", tmp_path / "out2")
    assert code == 0, output
    assert _sources(tmp_path) == ["a-ccc.jsonl"] * 3 + ["b-glp.json", "c-pt.json"]


def test_a_folder_without_exports_or_a_missing_path_exits_two(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    code, output = _convert(tmp_path, tmp_path / "empty", "--partner", "eu", "--out", tmp_path / "out")
    assert code == 2 and "a folder without .json, .jsonl, .csv files" in output and "--recursive" in output
    code, output = _convert(tmp_path, tmp_path / "nope", "--partner", "eu", "--out", tmp_path / "out")
    assert code == 2 and "no such file or folder" in output


def test_validate_and_import_take_folders(tmp_path: Path) -> None:
    partners = SAMPLES / "partners"
    result = runner.invoke(app, ["validate", str(partners), "--recursive"])
    assert result.exit_code == 0, result.output
    assert result.output.count(": valid (") == len(list(partners.rglob("*.xml")))
    assert runner.invoke(app, ["validate", str(partners)]).exit_code == 2  # only sub-folders there
    result = runner.invoke(app, ["import", str(partners / "kr"), "--out", str(tmp_path / "canonical")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "canonical").glob("ccc-*.json"))) == len(
        list((partners / "kr").glob("*.xml"))
    )


def test_the_kr_simulator_without_a_broker_says_so_and_exits_two_after_its_wait() -> None:
    started = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "exchange.cli",
            "simulate-partner",
            "kr",
            "--amqp",
            "amqp://guest:guest@127.0.0.1:1/",
            "--wait",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 2, out.stderr
    assert "cannot reach the broker" in out.stderr and "--wait" in out.stderr
    assert "Traceback" not in out.stderr
    assert time.monotonic() - started < 30
