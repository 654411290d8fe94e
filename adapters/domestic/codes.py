"""Domestic code lists, loaded once from `mappings/domestic/*.toml` (data, not code).

Lookups are plain dicts built at first use, so a record costs a few dict hits.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from adapters.domestic.normalize import code
from exchange.errors import ConfigError
from exchange.model import ISO_ALPHA2, CertStatus
from exchange.resources import mapping_path

Sector = Literal["ee", "non-ee"]


@dataclass(frozen=True, slots=True)
class Category:
    """A CCC catalogue code and what partner agreements need to know of it."""

    code: str
    name: str
    sector: Sector


@dataclass(frozen=True, slots=True)
class CodeLists:
    status: dict[str, CertStatus]
    categories: dict[str, Category]
    countries: dict[str, str]
    exact_status: dict[str, CertStatus] = field(init=False, repr=False)
    """Keys already in the form a lookup normalises to: a hit needs no normalising, and
    gives what cert_status / category / country give (a miss says nothing; ask them)."""
    exact_categories: dict[str, Category] = field(init=False, repr=False)
    exact_countries: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        countries = {iso: iso for iso in ISO_ALPHA2}
        for name, iso in self.countries.items():
            if code(name) == name and name.upper() not in ISO_ALPHA2:
                countries[name] = iso
        exact = {
            "exact_status": {k: v for k, v in self.status.items() if k.strip() == k},
            "exact_categories": {k: v for k, v in self.categories.items() if code(k) == k},
            "exact_countries": countries,
        }
        for name, table in exact.items():
            object.__setattr__(self, name, table)


def _table(file: str, key: str) -> dict[str, Any]:
    path = mapping_path("domestic", file)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    table = data.get(key)
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: expected a non-empty [{key}] table")
    return table


def _load_status() -> dict[str, CertStatus]:
    out: dict[str, CertStatus] = {}
    for domestic, canonical in _table("status.toml", "status").items():
        if canonical not in CertStatus.__members__:
            raise ConfigError(f"status.toml: {domestic} maps to unknown status {canonical!r}")
        out[domestic] = CertStatus(canonical)
    return out


def _load_categories() -> dict[str, Category]:
    out: dict[str, Category] = {}
    for key, entry in _table("categories.toml", "categories").items():
        if not re.fullmatch(r"[0-9]{4}", key) or not isinstance(entry, dict):
            raise ConfigError(f"categories.toml: {key!r} is not a 4-digit catalogue code table")
        name, sector = entry.get("name"), entry.get("sector")
        if not isinstance(name, str) or sector not in ("ee", "non-ee"):
            raise ConfigError(f"categories.toml: {key} needs a name and sector 'ee' or 'non-ee'")
        out[key] = Category(key, name, sector)
    return out


def _load_countries() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, iso in _table("countries.toml", "countries").items():
        if iso not in ISO_ALPHA2:
            raise ConfigError(f"countries.toml: {name} maps to {iso!r}, not an ISO alpha-2 code")
        out[name] = iso
    return out


@cache
def code_lists() -> CodeLists:
    """All three lists, read and checked once per process."""
    return CodeLists(_load_status(), _load_categories(), _load_countries())


def cert_status(text: str) -> CertStatus | None:
    """Canonical status of a domestic CCC status (有效 …), or None if unknown."""
    lists = code_lists()
    return lists.exact_status.get(text) or lists.status.get(text.strip())


def category(text: str) -> Category | None:
    """The catalogue entry for a CCC category code, or None if it has no mapping yet."""
    lists = code_lists()
    return lists.exact_categories.get(text) or lists.categories.get(code(text))


def country(text: str) -> str | None:
    """ISO alpha-2 code of an ISO code (any case, full-width allowed) or Chinese name."""
    hit = code_lists().exact_countries.get(text)
    if hit is not None:
        return hit
    value = code(text)
    upper = value.upper()
    if upper in ISO_ALPHA2:
        return upper
    return code_lists().countries.get(value)
