"""Start-up checks: every code a domestic record can carry has a mapping for every
partner whose agreement receives that family, and every code list names a domain we know.
Found before any record moves (the template checks run when a format is built:
exchange/mapping/template.py). The domains are listed in docs/mapping.md."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable

from exchange.config import Agreement, ExchangeConfig
from exchange.errors import ConfigError
from exchange.mapping.codes import CodeList
from exchange.model import (
    AssignedMethod,
    CertScheme,
    CertStatus,
    GlpArea,
    GlpStatus,
    InspectionType,
    Kind,
    SigmaMethod,
    Signal,
)
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


PARTIAL_DOMAINS: dict[str, frozenset[str] | None] = {
    "scheme": frozenset(s.value for s in CertScheme),
    "cert-scheme": frozenset(s.value for s in CertScheme),
    "supplier-country": None,
    "boolean": frozenset(("true", "false")),
    "yn": frozenset(("true", "false")),
}
"""Domains a list may cover in part (a code it lacks is a MappingError naming the field
when a record carries it); the set, when given, is every code the list may name."""


def domain_codes(agreement: Agreement) -> dict[str, set[str]]:
    """The canonical codes each code-list domain must cover for this agreement."""
    return {
        "cert-status": {s.value for s in CertStatus},
        "glp-status": {s.value for s in GlpStatus},
        "inspection-type": {t.value for t in InspectionType},
        "glp-area": {str(int(a)) for a in GlpArea},
        "category": categories_in_scope(agreement),
        "country": _domestic_countries(),
        "pt-assigned-method": {m.value for m in AssignedMethod},
        "pt-sigma-method": {m.value for m in SigmaMethod},
        "pt-signal": {s.value for s in Signal},
    }


def known_domains() -> list[str]:
    nobody = Agreement(partner="-", name="-", format="-:-", families=frozenset())
    return sorted({*domain_codes(nobody), *PARTIAL_DOMAINS})


def _where(code_list: CodeList) -> str:
    """file:line of the list's table header (tomllib keeps no positions)."""
    try:
        lines = code_list.source.read_text("utf-8").splitlines()
    except OSError:
        return str(code_list.source)
    for number, line in enumerate(lines, 1):
        if line.strip() in (f"[{code_list.name}]", f'["{code_list.name}"]'):
            return f"{code_list.source}:{number}"
    return str(code_list.source)


def _list_problems(code_list: CodeList, required: dict[str, set[str]], partner: str, kind: str) -> list[str]:
    domain = code_list.domain
    if domain in PARTIAL_DOMAINS:
        allowed = PARTIAL_DOMAINS[domain]
        extra = [] if allowed is None else sorted(code_list.forward.keys() - allowed)
        return [
            f"{_where(code_list)}: code list {code_list.name!r} maps {code!r}, which is not a "
            f"{domain} code (partner {partner}, family {kind})"
            for code in extra
        ]
    needed = required.get(domain)
    if needed is None:
        hint = difflib.get_close_matches(domain, known_domains(), 1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return [
            f"{_where(code_list)}: code list {code_list.name!r} has unknown domain {domain!r} "
            f"(partner {partner}; known: {', '.join(known_domains())}){suggestion}"
        ]
    return [
        f"{_where(code_list)}: code list {code_list.name!r} has no mapping for "
        f"{domain} code {code!r} (partner {partner}, family {kind})"
        for code in sorted(needed - code_list.forward.keys())
    ]


def mapping_problems(config: ExchangeConfig, partners: Iterable[str] | None = None) -> list[str]:
    problems: list[str] = []
    for name in partners if partners is not None else config.partners:
        agreement = config.partners[name]
        fmt = partner_format(agreement)
        required = domain_codes(agreement)
        for kind in sorted(agreement.families):
            for code_list in fmt.code_lists(Kind(kind)).values():
                problems += _list_problems(code_list, required, name, kind)
    return list(dict.fromkeys(problems))


def check_mappings(config: ExchangeConfig, partners: Iterable[str] | None = None) -> None:
    problems = mapping_problems(config, partners)
    if problems:
        raise ConfigError("mappings are incomplete:\n  " + "\n  ".join(problems))
