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


CountryCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_check_country)
]
"""ISO 3166-1 alpha-2, checked against the full code list, not just its shape."""

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
ShortStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


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
