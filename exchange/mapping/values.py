"""Canonical values in their XML lexical form: shared by the template (static checks) and
the compiled renderer, apart from both so neither imports the other at run time."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any


def format_value(value: Any) -> str:
    """Canonical value -> XML lexical form (xs:date, xs:decimal, xs:boolean ...)."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot render a {type(value).__name__} as XML text")
