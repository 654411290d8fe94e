"""A partner format's manifest (`mappings/<partner>/format.toml`): read once, the same way
for every kind of format."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange.errors import ConfigError
from exchange.mapping.codes import CodeList, load_code_lists
from exchange.model import Kind
from exchange.resources import mapping_path


@dataclass(frozen=True, slots=True)
class Manifest:
    path: Path
    spec: dict[str, Any]
    codes: dict[str, CodeList]

    @property
    def base(self) -> Path:
        return self.path.parent

    def families(self) -> dict[Kind, dict[str, Any]]:
        """Family tables by kind; an unknown family name is a configuration error."""
        out: dict[Kind, dict[str, Any]] = {}
        for name, table in self.spec.get("families", {}).items():
            try:
                out[Kind(name)] = table
            except ValueError:
                raise ConfigError(f"{self.path}: unknown family {name!r}") from None
        return out


def read_manifest(partner: str, manifest: Path | None = None) -> Manifest:
    path = manifest or mapping_path(partner, "format.toml")
    try:
        with path.open("rb") as fh:
            spec = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read format manifest: {exc}") from None
    codes = load_code_lists(path.parent / spec.get("codes", "codes.toml"))
    return Manifest(path, spec, codes)
