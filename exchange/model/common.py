"""Shared building blocks of the canonical model: strict types every family uses."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

ISO_ALPHA2: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)


def _check_country(code: str) -> str:
    if code not in ISO_ALPHA2:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_check_country)]
"""ISO 3166-1 alpha-2, checked against the full code list, not just its shape."""

XML_SAFE_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]*$"
"""Text every partner format can carry: no control characters XML 1.0 forbids."""

NonEmptyStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=XML_SAFE_PATTERN),
]
ShortStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=XML_SAFE_PATTERN),
]


def friendly_message(error_type: str, message: str) -> str:
    """Pydantic's message, except where it would quote a regex at a person."""
    if error_type == "string_pattern_mismatch" and "x00" in message:
        return "contains a control character, which no partner format can carry"
    return message


class Kind(StrEnum):
    """The three record families; the value is the routing key and file prefix."""

    CCC = "ccc"
    GLP = "glp"
    PT = "pt"


class CanonicalModel(BaseModel):
    """Base of every canonical type: strict, immutable, camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        str_strip_whitespace=True,
    )


class Party(CanonicalModel):
    """An organisation named on a record: applicant, manufacturer, factory, facility."""

    name: NonEmptyStr
    name_en: NonEmptyStr | None = None
    address: NonEmptyStr | None = None
    country: CountryCode
