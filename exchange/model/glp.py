"""Canonical GLP compliance statement (OECD Mutual Acceptance of Data)."""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import IntEnum, StrEnum
from typing import Literal

from pydantic import Field, model_validator

from exchange.model.common import CanonicalModel, Kind, NonEmptyStr, Party, ShortStr


class GlpStatus(StrEnum):
    IC = "IC"  # in compliance
    NIC = "NIC"  # not in compliance
    PEN = "PEN"  # pending
    RFP = "RFP"  # removed from the programme


class InspectionType(StrEnum):
    FULL = "FULL"  # with study audit
    RE_I = "RE-I"  # re-inspection
    FAC = "FAC"  # facility only


class GlpArea(IntEnum):
    """OECD areas of expertise 1-9 (9 = other, named in otherArea)."""

    PHYSICAL_CHEMICAL = 1
    TOXICITY = 2
    MUTAGENICITY = 3
    ENVIRONMENTAL_TOXICITY = 4
    ENVIRONMENTAL_BEHAVIOUR = 5
    RESIDUE = 6
    MESOCOSMS = 7
    ANALYTICAL_CLINICAL = 8
    OTHER = 9


class Inspection(CanonicalModel):
    date: dt.date
    end_date: dt.date | None = None
    type: InspectionType

    @model_validator(mode="after")
    def _ordered(self) -> Inspection:
        if self.end_date is not None and self.end_date < self.date:
            raise ValueError(f"endDate {self.end_date} is before date {self.date}")
        return self


class StudyAudit(CanonicalModel):
    """Commercially sensitive: goes to regulators only, never to public feeds."""

    study_id: ShortStr
    requested_by: ShortStr


class GlpStatement(CanonicalModel):
    kind: Literal[Kind.GLP] = Kind.GLP
    facility: Party
    authority: ShortStr
    inspections: list[Inspection] = Field(min_length=1, max_length=200)
    areas: list[GlpArea] = Field(min_length=1, max_length=9)
    other_area: NonEmptyStr | None = None
    status: GlpStatus
    study_audits: list[StudyAudit] = Field(default_factory=list)
    statement_date: dt.date

    @model_validator(mode="after")
    def _check(self) -> GlpStatement:
        if len(set(self.areas)) != len(self.areas):
            raise ValueError("areas lists an area more than once")
        if GlpArea.OTHER in self.areas and not self.other_area:
            raise ValueError("otherArea is required when areas includes 9 (other studies)")
        if GlpArea.OTHER not in self.areas and self.other_area:
            raise ValueError("otherArea is given but areas does not include 9")
        return self

    @property
    def record_id(self) -> str:
        """Stable, file-safe id: country, statement date and a digest of the facility name.

        GLP exports carry no statement number, so the id is derived from what identifies
        the statement: which facility, and as of which date.
        """
        digest = hashlib.sha256(self.facility.name.encode()).hexdigest()[:10]
        return f"{self.facility.country}-{self.statement_date:%Y%m%d}-{digest}"
