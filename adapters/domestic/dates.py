"""The three domestic date forms: `2019-03-01`, `2019/3/1`, `2019年03月01日`."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from adapters.domestic.normalize import brief, nfkc
from adapters.domestic.validation import MISSING
from exchange.errors import RecordError

EXPECTED = "expected YYYY-MM-DD, YYYY/M/D or YYYY年MM月DD日"

# [0-9], not \d: \d also matches other scripts' digits, which int() would accept.
_DATE = re.compile(
    r"([0-9]{4})(?:-([0-9]{1,2})-([0-9]{1,2})|/([0-9]{1,2})/([0-9]{1,2})|年([0-9]{1,2})月([0-9]{1,2})日)"
)


@lru_cache(maxsize=4096)
def _lookup(text: str) -> date | None:
    """Cached: exports repeat the same few thousand dates over millions of rows."""
    m = _DATE.fullmatch(nfkc(text).strip())
    if m is None:
        return None
    year, *parts = m.groups()
    month, day = (int(p) for p in parts if p is not None)
    try:
        return date(int(year), month, day)
    except ValueError:
        return None


def quick_date(value: object) -> date | None:
    """The date a well-formed date string stands for, else None (parse_date says why)."""
    return _lookup(value) if value.__class__ is str else None


def parse_date(value: object, field: str) -> date:
    """The date `value` stands for, or a RecordError naming `field`."""
    if value.__class__ is str:  # the common case: a well-formed date, cached
        parsed = _lookup(value)
        if parsed is not None:
            return parsed
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError(MISSING, field=field)
    if not isinstance(value, str):
        raise RecordError(
            f"expected a date string ({EXPECTED}), got {type(value).__name__} {brief(repr(value))}",
            field=field,
        )
    parsed = _lookup(value)
    if parsed is None:
        raise RecordError(f"{brief(value.strip())} is not a date ({EXPECTED})", field=field)
    return parsed


def optional_date(value: object, field: str) -> date | None:
    """Like parse_date, but an absent or empty value is None."""
    if value.__class__ is str:
        parsed = _lookup(value)
        if parsed is not None:
            return parsed
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_date(value, field)
