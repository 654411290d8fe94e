"""Pieces every domestic family shares: objects, lists, parties, codes.

Each helper takes the domestic field path so an error names the field as the sender
spells it. Values that are not the expected JSON type are passed on unchanged where
the canonical model will reject them with a clear message anyway.
"""

from __future__ import annotations

from typing import Any

from adapters.domestic.codes import code_lists, country
from adapters.domestic.normalize import brief, nfkc, split_multi
from adapters.domestic.validation import MISSING
from exchange.errors import RecordError

Obj = dict[str, Any]


def is_blank(value: object) -> bool:
    """Absent for intake purposes: exports write null or "" for a value they lack."""
    return value is None or (type(value) is str and not value.strip())


def clean(obj: Obj) -> Obj:
    """A copy of `obj` without null or "" values, so they read as absent, not invalid."""
    values = obj.values()
    if None in values or "" in values:  # C-speed test first: most objects have neither
        return {k: v for k, v in obj.items() if v is not None and v != ""}
    return dict(obj)


def obj(value: object, field: str) -> Obj:
    """`value`, a required JSON object, cleaned of blank values."""
    if value.__class__ is dict:  # the common case, clean() inlined
        values = value.values()
        if None in values or "" in values:
            return {k: v for k, v in value.items() if v is not None and v != ""}
        return dict(value)
    if value is None:
        raise RecordError(MISSING, field=field)
    if not isinstance(value, dict):
        raise RecordError(f"expected a JSON object, got {type(value).__name__}", field=field)
    return clean(value)


def with_id(exc: RecordError, record_id: str | None) -> RecordError:
    """`exc` again, now naming the record (its message is built at construction)."""
    return RecordError(exc.reason, field=exc.field, record_id=record_id or exc.record_id)


def check_keys(record: Obj, allowed: frozenset[str], family: str) -> None:
    """Unknown keys are refused: a misspelt field must not silently lose its value."""
    for key in record:
        if key not in allowed:
            raise RecordError(f"is not a field of the domestic {family} format", field=key)


def code_field(data: Obj, key: str) -> None:
    """NFKC-normalise `data[key]` in place when it is a string (codes, numbers)."""
    value = data.get(key)
    if value.__class__ is str:
        data[key] = (value if value.isascii() else nfkc(value)).strip()


def objects(value: object, field: str) -> list[Obj] | object:
    """A list of JSON objects, each cleaned (obj); anything else goes on to the model."""
    if not isinstance(value, list):
        return value  # the model says "should be a valid list"
    out: list[Obj] = []
    for i, v in enumerate(value):
        out.append(clean(v) if v.__class__ is dict else obj(v, f"{field}[{i}]"))
    return out


def party(value: object, field: str) -> Obj:
    """A domestic party (name, nameEn, address, country) with its country resolved."""
    if value.__class__ is dict:  # the common case: no blanks, the country as the list has it
        values = value.values()
        if None not in values and "" not in values:
            raw = value.get("country")
            iso = code_lists().exact_countries.get(raw) if raw.__class__ is str else None
            if iso is not None:
                data = dict(value)
                data["country"] = iso
                return data
    data = obj(value, field)
    raw = data.get("country")
    if raw.__class__ is str:
        iso = country(raw)
        if iso is None:
            raise RecordError(
                f"{brief(raw.strip())} is not an ISO 3166-1 alpha-2 code or a known country name",
                field=f"{field}.country",
            )
        data["country"] = iso
    return data


def code_list(value: object) -> object:
    """A list of code strings, each NFKC-normalised, blanks dropped; a single string is
    split on `;`, `；` or `、` as in the CSV export. Other types go on to the model."""
    if type(value) is str:
        return split_multi(value)
    if isinstance(value, list):  # the hot path of every record: inlined code() and is_blank()
        out: list[object] = []
        for v in value:
            if type(v) is str:
                v = (v if v.isascii() else nfkc(v)).strip()
                if v:
                    out.append(v)
            elif v is not None:
                out.append(v)
        return out
    return value
