"""Canonical model validation, with errors told in the domestic format's own field names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from exchange.errors import RecordError
from exchange.model.common import friendly_message

M = TypeVar("M", bound=BaseModel)

Loc = tuple[int | str, ...]
MISSING = "required value is missing or empty"
_MAX_LISTED = 5


def dotted(loc: Loc) -> str:
    """`('results', 3, 'k')` -> `results[3].k`: the path as the domestic JSON spells it."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _reason(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "missing":
        return MISSING
    if kind == "extra_forbidden":
        return "is not a field of this record type"
    if kind in ("value_error", "assertion_error"):
        return err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    shown = repr(err.get("input"))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{friendly_message(kind, err['msg'])} (got {shown})"


def validate(
    model: type[M],
    data: Mapping[str, Any],
    *,
    record_id: str | None,
    rename: Callable[[Loc], Loc] = lambda loc: loc,
) -> M:
    """`model` built from `data`, or a RecordError naming the first bad field.

    `rename` maps a canonical location back to the domestic one (e.g. `factories[0]`
    back to `factory`). Further problems, if any, are listed in the reason, so one
    reject tells the sender everything that is wrong with the record.
    """
    try:  # model_validate without its keyword plumbing: the same validator, called directly
        return model.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        fields = [dotted(rename(e["loc"])) or None for e in errors]
        reason = _reason(errors[0])
        more = [f"{f or 'record'}: {_reason(e)}" for f, e in zip(fields[1:], errors[1:], strict=True)]
        if more:
            listed = "; ".join(more[:_MAX_LISTED])
            extra = len(more) - _MAX_LISTED
            reason += f" (also {listed}{f'; and {extra} more' if extra > 0 else ''})"
        raise RecordError(reason, field=fields[0], record_id=record_id) from None
