"""Domestic proficiency-testing round -> PtRound (the shapes match almost 1:1).

Result objects pass through as they are (bar NFKC of codes and numbers given as
text), so fields the canonical PtResult gains later need no change here.
"""

from __future__ import annotations

from typing import Any

from adapters.domestic.parts import Obj, check_keys, clean, code_field, obj, with_id
from adapters.domestic.validation import validate
from exchange.errors import RecordError
from exchange.model import PtRound

FIELDS = frozenset(
    {
        "provider",
        "scheme",
        "round",
        "matrix",
        "measurand",
        "unit",
        "assigned",
        "sigmaPt",
        "results",
    }
)
_NUMBERS = ("value", "U", "u", "k")


def record_id(raw: Obj) -> str | None:
    """The id PtRound.record_id would give (scheme-round), when both are present."""
    scheme, round_ = raw.get("scheme"), raw.get("round")
    if not (isinstance(scheme, str) and isinstance(round_, str)):
        return None
    data: dict[str, Any] = {"scheme": scheme, "round": round_}
    code_field(data, "scheme")
    code_field(data, "round")
    return PtRound.model_construct(**data).record_id


def _numbers(data: Obj) -> Obj:
    for key in _NUMBERS:
        code_field(data, key)
    return data


def _results(value: object) -> object:
    if not isinstance(value, list):
        return value
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            out.append(obj(item, f"results[{i}]"))
            continue
        result = dict(item)
        code_field(result, "lab")
        out.append(_numbers(result))
    return out


def to_round(raw: Obj) -> PtRound:
    """The canonical PT round for one domestic record, or a RecordError."""
    rid = record_id(raw)
    try:
        check_keys(raw, FIELDS, "PT")
        data = clean(raw)
        code_field(data, "scheme")
        code_field(data, "round")
        for key in ("assigned", "sigmaPt"):
            if key in data:
                data[key] = _numbers(obj(data[key], key))
        if "results" in data:
            data["results"] = _results(data["results"])
        return validate(PtRound, data, record_id=rid)
    except RecordError as exc:
        raise with_id(exc, rid) from None
