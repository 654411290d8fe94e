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

SINGLE_LINE_PATTERN = r"^[^\x00-\x1F\x85\u2028\u2029\uFFFE\uFFFF]*$"
"""Names, identifiers, codes: one line, so no tab, CR, LF, NEL or Unicode line/paragraph separator.

Every partner schema (Text, ShortText) refuses the same characters, with explicit classes
rather than `\\s` so that xmllint and xmlschema agree.
"""

NonEmptyStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=SINGLE_LINE_PATTERN),
]
"""Single-line text (names, labels); leading and trailing Unicode whitespace is stripped."""
ShortStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=SINGLE_LINE_PATTERN),
]
"""Single-line short text (models, standards, report numbers, lab codes)."""
MultiLineStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=XML_SAFE_PATTERN),
]
"""Addresses and free-text reasons: line breaks (LF, CR) and tabs allowed inside, as MultiLineText is."""


def friendly_message(error_type: str, message: str) -> str:
    """Pydantic's message, except where it would quote a regex at a person."""
    if error_type == "string_pattern_mismatch" and "x00-\\x1F" in message:
        return "contains a line break, tab or control character, which a single-line field cannot carry"
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
    address: MultiLineStr | None = None
    country: CountryCode
