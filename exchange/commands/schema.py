"""Canonical JSON Schemas, generated from the model: `exchange schema export`."""

from __future__ import annotations

import json
from pathlib import Path

from exchange.model import MODEL_BY_KIND
from exchange.resources import schema_path

SCHEMA_VERSION = "1.0"


def canonical_schemas() -> dict[str, str]:
    """File name -> JSON text, one schema per family, stable for diffing."""
    out = {}
    for kind, model in MODEL_BY_KIND.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema["$id"] = f"urn:mra-exchange:canonical:{kind}:{SCHEMA_VERSION}"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[f"{kind}-{SCHEMA_VERSION}.json"] = (
            json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        )
    return out


def export_schemas(out_dir: Path | None = None) -> list[Path]:
    out_dir = out_dir or schema_path("canonical")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in canonical_schemas().items():
        target = out_dir / name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def stale_schemas(out_dir: Path | None = None) -> list[str]:
    """Names of schema files that differ from what the model generates now."""
    out_dir = out_dir or schema_path("canonical")
    stale = []
    for name, text in canonical_schemas().items():
        target = out_dir / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale
