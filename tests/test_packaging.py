"""A wheel install must work, not only an editable one: schemas and mappings ship inside."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_schemas_mappings_and_agreements(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("mra_exchange-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        str(p.relative_to(ROOT))
        for folder in ("schemas", "mappings")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and p.suffix in {".xsd", ".xml", ".toml", ".json", ".wsdl"}
    }
    assert shipped, "nothing to ship?"
    assert shipped <= names, f"missing from the wheel: {sorted(shipped - names)}"
    assert "adapters/agreements.toml" in names
    assert "exchange/py.typed" in names
    console = {
        f"exchange/console/static/{n}" for n in ("console.html", "login.html", "console.css", "console.js")
    }
    assert console <= names, f"the console's pages are missing: {sorted(console - names)}"
