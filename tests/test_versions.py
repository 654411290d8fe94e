"""A record read twice is two versions: both documents kept, the current one decided by the
later status change, the summary equal to the files on disk, every audited digest found."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

from exchange.archive import DocumentArchive
from exchange.audit import open_store

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
CERT = "2019010907123456"  # in samples/ccc.jsonl and samples/ccc-export-gb18030.csv


def readme_first_command() -> list[str]:
    """The `exchange convert ...` of the README's first code block, as a user runs it."""
    text = (ROOT / "README.md").read_text("utf-8")
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    line = next(x for x in block.splitlines() if "exchange convert" in x)
    return shlex.split(line.split("&&", 1)[1])


def convert(*args: str | Path) -> list[str]:
    return ["exchange", "convert", *map(str, args)]


def run_convert(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert args[0] == "exchange"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXCHANGE_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}"}
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def summary_counts(stderr: str) -> dict[str, int]:
    match = re.search(r"documents written: ([^;]*);", stderr)
    assert match, stderr
    return {p: int(n) for p, n in (part.split(": ") for part in match.group(1).split(", "))}


def files_on_disk(out: Path) -> dict[str, int]:
    counts = Counter(p.parent.name for p in out.glob("*/*") if p.suffix in (".xml", ".jsonld"))
    return dict(counts)


def digests_on_disk(out: Path) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in out.glob("*/*") if p.is_file()}


def audited(tmp_path: Path) -> list[dict[str, object]]:
    with open_store(f"sqlite:///{tmp_path / 'audit.db'}") as store:
        return [e.as_dict() for e in store.export(None, None)]


def archived_digests(tmp_path: Path) -> set[str]:
    archive = DocumentArchive(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        return {a.sha256 for e in audited(tmp_path) for a in archive.for_message(str(e["message_id"]))}
    finally:
        archive.close()


def test_the_readmes_first_command_keeps_both_versions_and_counts_what_is_on_disk(tmp_path: Path) -> None:
    args = readme_first_command()
    out = tmp_path / "out"
    args[args.index("--out") + 1] = str(out)
    result = run_convert(args, tmp_path)
    assert result.returncode == 1, result.stderr  # the README's 15-digit certificate number
    assert summary_counts(result.stderr) == files_on_disk(out)
    on_disk = digests_on_disk(out)
    named = {str(e["doc_sha256"]) for e in audited(tmp_path) if e["doc_sha256"]}
    assert named and named <= on_disk, named - on_disk
    assert named <= archived_digests(tmp_path)
    # The JSON Lines version has the later status change (2021-05-06): it is current.
    current = (out / "eu" / f"ccc-{CERT}.xml").read_text("utf-8")
    assert "Power adapter" in current and "850440" in current
    older = (out / "eu" / f"ccc-{CERT}.v2.xml").read_text("utf-8")
    assert "Power adapter" not in older
    warning = next(x for x in result.stderr.splitlines() if x.startswith("warning:"))
    assert f"ccc-{CERT} version 2" in warning and "ccc-export-gb18030.csv" in warning
    assert "product.hs_code" in warning and "test_reports" in warning and "samples/ccc.jsonl" in warning


def test_a_later_status_change_read_first_is_still_current_and_the_older_moves_aside(tmp_path: Path) -> None:
    out = tmp_path / "out"
    csv, jsonl = SAMPLES / "ccc-export-gb18030.csv", SAMPLES / "ccc.jsonl"
    result = run_convert(convert(csv, jsonl, "--partner", "eu", "--out", out), tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Power adapter" in (out / "eu" / f"ccc-{CERT}.xml").read_text("utf-8")
    moved = out / "eu" / f"ccc-{CERT}.v1.xml"
    (superseded,) = [e for e in audited(tmp_path) if e["event"] == "SUPERSEDED"]
    details = superseded["details"]
    assert isinstance(details, dict)
    assert details["file"] == str(moved) and details["version"] == 1 and details["current_version"] == 2
    assert superseded["doc_sha256"] == hashlib.sha256(moved.read_bytes()).hexdigest()
    assert summary_counts(result.stderr) == files_on_disk(out) == {"eu": 4}


def test_the_same_record_twice_is_written_once_without_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "out"
    jsonl = str(SAMPLES / "ccc.jsonl")
    result = run_convert(convert(jsonl, jsonl, "--partner", "kr", "--out", out), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning:" not in result.stderr
    assert "6 records read (3 later versions of records already read)" in result.stderr
    assert summary_counts(result.stderr) == files_on_disk(out)
    versions = [e for e in audited(tmp_path) if e["event"] == "VALIDATED" and e["record_id"] == CERT]
    assert [json.dumps(e["details"]).count('"version": 2') for e in versions] == [0, 1]


def test_a_later_run_into_the_same_folder_leaves_every_digest_in_the_archive(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for sample in ("ccc.jsonl", "ccc-export-gb18030.csv"):
        run_convert(convert(SAMPLES / sample, "--partner", "eu", "--out", out), tmp_path)
    named = {str(e["doc_sha256"]) for e in audited(tmp_path) if e["doc_sha256"]}
    assert len(named) == 4  # 3 + 1 documents over two runs (the CSV's other row is rejected)
    assert not named <= digests_on_disk(out)  # the second run replaced a file of the first
    assert named <= archived_digests(tmp_path)


def test_versions_are_laid_out_by_order_and_identical_documents_are_kept_once(tmp_path: Path) -> None:
    from datetime import date

    from exchange.model import Kind
    from exchange.pipeline import Converted
    from exchange.sinks import FileSink, Placed

    sink = FileSink(tmp_path)

    def doc(body: bytes) -> Converted:
        return Converted(
            "eu", Kind.CCC, CERT, body, ".xml", "application/xml", hashlib.sha256(body).hexdigest()
        )

    def put(number: int, changed: date, body: bytes) -> bool:
        d = doc(body)
        return sink.write_version(d, Placed(number, (changed, number), d.sha256, f"m{number}")).added

    assert put(1, date(2020, 1, 1), b"<x/>")
    assert put(2, date(2021, 1, 1), b"<y/>")  # later status change: current
    assert not put(3, date(2022, 1, 1), b"<x/>")  # same bytes as version 1, now current
    assert put(4, date(2019, 1, 1), b"<z/>")  # older than all
    files = {p.name: p.read_bytes() for p in (tmp_path / "eu").iterdir()}
    assert files == {f"ccc-{CERT}.xml": b"<x/>", f"ccc-{CERT}.v2.xml": b"<y/>", f"ccc-{CERT}.v4.xml": b"<z/>"}
