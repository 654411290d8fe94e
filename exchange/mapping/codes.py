"""Code lists as data: canonical code -> partner code, and back.

A code list file is TOML, one table per list:

    [status]
    domain = "cert-status"          # which canonical codes it must cover
    map = { VALID = "VALID", ... }  # canonical -> partner
    reverse = { ... }               # optional: partner -> canonical (default: map inverted)
    absent = ["2203"]               # optional: canonical codes with no partner value

`reverse` exists for partners that send more codes than we do (e.g. KC's
적합/변경 both meaning VALID); without it the map must be one-to-one. An empty
`reverse` table makes the list one-way: labels and derived codes that are rendered
but never read back. A code listed in `absent` counts as mapped, to "nothing": an
optional element or attribute carrying it is left out (a required one is an error).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from exchange.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CodeList:
    name: str
    domain: str
    forward: dict[str, str | None]
    reverse: dict[str, str]
    source: Path

    @property
    def one_way(self) -> bool:
        """An explicitly empty `reverse` table: rendered only, ignored when parsing back."""
        return not self.reverse


def load_code_lists(path: Path) -> dict[str, CodeList]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read code lists: {exc}") from None
    lists: dict[str, CodeList] = {}
    for name, table in data.items():
        if not isinstance(table, dict) or not isinstance(table.get("map"), dict):
            raise ConfigError(f"{path}: code list {name!r} needs a 'map' table")
        forward: dict[str, str | None] = {str(k): str(v) for k, v in table["map"].items()}
        for code in table.get("absent", []):
            if str(code) in forward:
                raise ConfigError(f"{path}: code list {name!r} maps {code!r} and lists it as absent")
            forward[str(code)] = None
        if "reverse" in table:
            reverse = {str(k): str(v) for k, v in table["reverse"].items()}
        else:
            reverse = {}
            for canonical, partner in forward.items():
                if partner is None:
                    continue
                if partner in reverse:
                    raise ConfigError(
                        f"{path}: code list {name!r} maps both {reverse[partner]!r} and "
                        f"{canonical!r} to {partner!r}; give a 'reverse' table"
                    )
                reverse[partner] = canonical
        lists[name] = CodeList(name, str(table.get("domain", name)), forward, reverse, path)
    return lists
