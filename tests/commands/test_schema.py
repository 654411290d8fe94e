"""The canonical JSON Schemas in schemas/canonical/ are what the model generates now."""

from __future__ import annotations

from pathlib import Path

from exchange.commands.schema import export_schemas, stale_schemas


def test_shipped_canonical_schemas_are_current() -> None:
    stale = stale_schemas()
    assert not stale, f"run `exchange schema export`: stale {stale}"


def test_a_changed_schema_is_reported_stale(tmp_path: Path) -> None:
    written = export_schemas(tmp_path)
    assert stale_schemas(tmp_path) == []
    written[0].write_text("{}", encoding="utf-8")
    assert stale_schemas(tmp_path) == [written[0].name]
