"""One decoded domestic record -> its canonical record: kind detection and dispatch."""

from __future__ import annotations

from collections.abc import Callable

from adapters.domestic.ccc import to_certificate
from adapters.domestic.glp import to_statement
from adapters.domestic.pt import to_round
from exchange.errors import RecordError
from exchange.intake import CanonicalRecord
from exchange.model import Kind

_CONVERT: dict[Kind, Callable[[dict[str, object]], CanonicalRecord]] = {
    Kind.CCC: to_certificate,
    Kind.GLP: to_statement,
    Kind.PT: to_round,
}


def detect_kind(record: dict[str, object]) -> Kind | None:
    """The family a record belongs to, from the fields only that family has."""
    if "certNo" in record:
        return Kind.CCC
    if "facility" in record:
        return Kind.GLP
    if "results" in record or "scheme" in record:
        return Kind.PT
    return None


def to_canonical(value: object, kind: Kind | None = None) -> CanonicalRecord:
    """The canonical record for a decoded JSON value; RecordError if it is not one."""
    if not isinstance(value, dict):
        raise RecordError(f"a record must be a JSON object, got {_json_type(value)}")
    found = kind or detect_kind(value)
    if found is None:
        raise RecordError(
            "cannot tell the kind of record: no certNo (CCC), facility (GLP) or results/scheme (PT)"
        )
    return _CONVERT[found](value)


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
