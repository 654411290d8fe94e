"""A partner added from a temporary folder (files and an agreement only, found through
EXCHANGE_CONFIG and PYTHONPATH), run through the CLI as an agency would run it: the file
transport end to end, and each mapping mistake refused at start-up naming file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.adapters.partner_kit import Kit, make_partner

ROOT = Path(__file__).resolve().parents[2]
CCC_SAMPLE = ROOT / "samples" / "ccc.jsonl"


def _cli(kit: Kit, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "EXCHANGE_CONFIG": str(kit.config),
        "PYTHONPATH": os.pathsep.join((str(kit.pythonpath), str(ROOT))),
    }
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        env=env,
        cwd=kit.folder.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_file_partner_from_a_folder_converts_validates_and_reads_back(tmp_path: Path) -> None:
    kit = make_partner(tmp_path, "sg")
    out = tmp_path / "out"
    converted = _cli(kit, "convert", str(CCC_SAMPLE), "--partner", "sg", "--out", str(out))
    assert converted.returncode in (0, 1), converted.stderr
    documents = sorted((out / "sg").glob("ccc-*.xml"))
    assert documents, converted.stdout + converted.stderr
    assert b"urn:mra-exchange:sg:ccc:1.0" in documents[0].read_bytes()
    validated = _cli(kit, "validate", *map(str, documents))
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.count("valid (sg ccc)") == len(documents)
    imported = _cli(kit, "import", str(documents[0]), "--out", str(tmp_path / "canonical"))
    assert imported.returncode == 0, imported.stderr
    (record_file,) = (tmp_path / "canonical").glob("ccc-*.json")
    record = json.loads(record_file.read_text("utf-8"))
    assert record["certNo"] in documents[0].read_text("utf-8")


Mistake = Callable[[Kit], tuple[str, int, str]]
"""Breaks the kit; returns (file name, line, a phrase the error must contain)."""


def _wrong_path(kit: Kit) -> tuple[str, int, str]:
    kit.edit("ccc.xml", 'm:value="cert_no"', 'm:value="cert_number"')
    return "ccc.xml", kit.line_of("ccc.xml", "cert_number"), "did you mean 'cert_no'"


def _camel_case_path(kit: Kit) -> tuple[str, int, str]:
    kit.edit("ccc.xml", 'm:value="issue_date"', 'm:value="issueDate"')
    return "ccc.xml", kit.line_of("ccc.xml", "issueDate"), "did you mean 'issue_date'"


def _wrong_path_on_optional(kit: Kit) -> tuple[str, int, str]:
    kit.edit("ccc.xml", 'm:value="hs_code"', 'm:value="hscode"')
    return "ccc.xml", kit.line_of("ccc.xml", "hscode"), "did you mean 'hs_code'"


def _misspelt_directive(kit: Kit) -> tuple[str, int, str]:
    kit.edit("ccc.xml", 'm:value="tax_id" m:optional="true"', 'm:value="tax_id" m:optinal="true"')
    return "ccc.xml", kit.line_of("ccc.xml", "m:optinal"), "did you mean m:optional"


def _misspelt_domain(kit: Kit) -> tuple[str, int, str]:
    kit.edit("codes.toml", 'domain = "cert-status"', 'domain = "cert-stauts"')
    return "codes.toml", kit.line_of("codes.toml", "[status]"), "did you mean 'cert-status'"


def _unmapped_category(kit: Kit) -> tuple[str, int, str]:
    kit.edit("codes.toml", '"0718" = "true"', "")
    return "codes.toml", kit.line_of("codes.toml", "[registration]"), "'0718'"


def _list_as_value(kit: Kit) -> tuple[str, int, str]:
    kit.edit("ccc.xml", '<nz:Brand m:each="brands" m:value="."/>', '<nz:Brand m:value="brands"/>')
    return "ccc.xml", kit.line_of("ccc.xml", "<nz:Brand "), "m:each"


@pytest.mark.parametrize(
    "mistake",
    [
        _wrong_path,
        _camel_case_path,
        _wrong_path_on_optional,
        _misspelt_directive,
        _misspelt_domain,
        _unmapped_category,
        _list_as_value,
    ],
    ids=lambda m: m.__name__.strip("_"),
)
def test_a_mapping_mistake_is_refused_at_start_up_naming_file_and_line(
    tmp_path: Path, mistake: Mistake
) -> None:
    kit = make_partner(tmp_path, "sg")
    name, line, phrase = mistake(kit)
    run = _cli(kit, "convert", str(CCC_SAMPLE), "--partner", "sg", "--out", str(tmp_path / "out"))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert f"{kit.file(name)}:{line}" in run.stderr, run.stderr
    assert phrase in run.stderr, run.stderr
    assert not (tmp_path / "out" / "sg").exists()


@pytest.mark.parametrize(
    ("sample", "old", "phrase"),
    [
        ("pt-round.json", 'warning = "warning", ', "pt-signal code 'warning'"),
        ("pt-round.json", 'fixed = "fixed", ', "pt-sigma-method code 'fixed'"),
        ("glp.json", 'PEN = "PEN", ', "glp-status code 'PEN'"),
    ],
)
def test_pt_and_glp_code_lists_are_checked_like_ccc_ones(
    tmp_path: Path, sample: str, old: str, phrase: str
) -> None:
    kit = make_partner(tmp_path, "zz", base="eu")
    kit.edit("codes.toml", old, "")
    run = _cli(
        kit, "convert", str(ROOT / "samples" / sample), "--partner", "zz", "--out", str(tmp_path / "out")
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert str(kit.file("codes.toml")) in run.stderr and phrase in run.stderr, run.stderr


def test_one_partners_broken_mapping_leaves_the_others_working(tmp_path: Path) -> None:
    kit = make_partner(tmp_path, "sg")
    kit.edit("codes.toml", "[status]\n", "[status]\nmapx = 1\n")
    kit.edit("codes.toml", "map = { VALID", "mapping = { VALID")
    partners = ROOT / "samples" / "partners"
    documents = sorted(str(p) for p in partners.rglob("*.xml"))
    assert documents
    validated = _cli(kit, "validate", *documents)
    assert validated.returncode == 0, validated.stderr
    imported = _cli(kit, "import", *documents, "--out", str(tmp_path / "canonical"))
    assert imported.returncode == 0, imported.stderr
    converted = _cli(kit, "convert", str(CCC_SAMPLE), "--partner", "eu", "--out", str(tmp_path / "out"))
    assert converted.returncode in (0, 1) and list((tmp_path / "out" / "eu").glob("ccc-*.xml")), (
        converted.stderr
    )
    own = _cli(kit, "convert", str(CCC_SAMPLE), "--partner", "sg", "--out", str(tmp_path / "out"))
    assert own.returncode == 2 and "Traceback" not in own.stderr
    assert str(kit.file("codes.toml")) in own.stderr and "'status'" in own.stderr, own.stderr
