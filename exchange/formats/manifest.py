"""A partner format's manifest (`mappings/<partner>/format.toml`): read once, the same way
for every kind of format."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange.errors import ConfigError
from exchange.mapping.codes import CodeList, load_code_lists
from exchange.mapping.fields import UnknownPath, resolve_listed
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

    def not_carried(self) -> dict[Kind, frozenset[str]]:
        """Each family's `not_carried` paths, every one checked against the model."""
        out: dict[Kind, frozenset[str]] = {}
        for kind, table in self.families().items():
            paths = table.get("not_carried", []) if isinstance(table, dict) else []
            for path in paths:
                try:
                    resolve_listed(kind, str(path))
                except UnknownPath as exc:
                    raise ConfigError(f"{self.path}: families.{kind.value}.not_carried: {exc}") from None
            out[kind] = frozenset(str(p) for p in paths)
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
