"""Agreement scope: is a record inside what a partner's agreement covers?"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from exchange.config import Agreement
from exchange.errors import ConfigError
from exchange.intake import CanonicalRecord
from exchange.model import Kind, ProductCertificate
from exchange.resources import mapping_path


@cache
def category_sectors(relative: str = "domestic/categories.toml") -> dict[str, str]:
    """CCC catalogue code -> sector ("ee" or "non-ee"), from the domestic code list."""
    path: Path = mapping_path(*relative.split("/"))
    try:
        with path.open("rb") as fh:
            table = tomllib.load(fh).get("categories", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read categories: {exc}") from None
    return {str(code): str(entry.get("sector", "")) for code, entry in table.items()}


def out_of_scope(agreement: Agreement, record: CanonicalRecord) -> str | None:
    """None when the agreement covers the record, else the reason it does not."""
    kind = record.kind
    if kind not in agreement.families:
        return f"the {agreement.partner} agreement does not cover {kind} records"
    scope = agreement.scope.get(kind)
    if scope is None or not isinstance(record, ProductCertificate):
        return None
    category = record.product.category
    if scope.categories is not None and category not in scope.categories:
        return f"the {agreement.partner} agreement does not cover product category {category}"
    if scope.sectors is not None:
        sector = category_sectors().get(category, "unknown")
        if sector not in scope.sectors:
            return (
                f"the {agreement.partner} agreement covers sectors {sorted(scope.sectors)}; "
                f"category {category} is {sector}"
            )
    return None


def categories_in_scope(agreement: Agreement) -> set[str]:
    scope = agreement.scope.get(Kind.CCC)
    codes = set(category_sectors())
    if scope is None:
        return codes
    if scope.categories is not None:
        codes &= scope.categories
    if scope.sectors is not None:
        codes = {c for c in codes if category_sectors()[c] in scope.sectors}
    return codes
