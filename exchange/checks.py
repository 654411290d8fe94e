"""Start-up checks: every code a domestic record can carry has a mapping for every
partner whose agreement receives that family. Found before any record moves."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable

from exchange.config import Agreement, ExchangeConfig
from exchange.errors import ConfigError
from exchange.model import CertStatus, GlpArea, GlpStatus, InspectionType, Kind
from exchange.registry import partner_format
from exchange.resources import mapping_path
from exchange.scope import categories_in_scope


def _domestic_countries() -> set[str]:
    path = mapping_path("domestic", "countries.toml")
    try:
        with path.open("rb") as fh:
            table = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {"CN"}
    values = table.get("countries", table)
    return {str(v) for v in values.values() if isinstance(v, str)} | {"CN"}


def domain_codes(agreement: Agreement) -> dict[str, set[str]]:
    """The canonical codes each code-list domain must cover for this agreement."""
    return {
        "cert-status": {s.value for s in CertStatus},
        "glp-status": {s.value for s in GlpStatus},
        "inspection-type": {t.value for t in InspectionType},
        "glp-area": {str(int(a)) for a in GlpArea},
        "category": categories_in_scope(agreement),
        "country": _domestic_countries(),
    }


def mapping_problems(config: ExchangeConfig, partners: Iterable[str] | None = None) -> list[str]:
    problems: list[str] = []
    for name in partners if partners is not None else config.partners:
        agreement = config.partners[name]
        fmt = partner_format(agreement)
        required = domain_codes(agreement)
        for kind in sorted(agreement.families):
            for code_list in fmt.code_lists(Kind(kind)).values():
                needed = required.get(code_list.domain)
                if needed is None:
                    continue
                for code in sorted(needed - code_list.forward.keys()):
                    problems.append(
                        f"{code_list.source}: code list {code_list.name!r} has no mapping for "
                        f"{code_list.domain} code {code!r} (partner {name}, family {kind})"
                    )
    return problems


def check_mappings(config: ExchangeConfig, partners: Iterable[str] | None = None) -> None:
    problems = mapping_problems(config, partners)
    if problems:
        raise ConfigError("mappings are incomplete:\n  " + "\n  ".join(problems))
