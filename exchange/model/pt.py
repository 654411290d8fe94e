"""Canonical proficiency-testing round (ISO/IEC 17043), with scores per ISO 13528."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from exchange.model.common import CanonicalModel, Kind, NonEmptyStr, ShortStr

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(allow_inf_nan=False, gt=0)]


class AssignedMethod(StrEnum):
    FORMULATION = "formulation"
    REFERENCE = "reference"
    CONSENSUS = "consensus"


class SigmaMethod(StrEnum):
    FIXED = "fixed"
    ROBUST = "robust"


class Signal(StrEnum):
    ACCEPTABLE = "acceptable"
    WARNING = "warning"
    ACTION = "action"


class Provider(CanonicalModel):
    name: NonEmptyStr
    name_en: NonEmptyStr | None = None
    accreditation: ShortStr | None = None


class AssignedValue(CanonicalModel):
    method: AssignedMethod
    value: FiniteFloat | None = None
    u: PositiveFloat | None = None
    expanded_u: PositiveFloat | None = Field(default=None, alias="U")
    k: PositiveFloat | None = None

    @model_validator(mode="after")
    def _check(self) -> AssignedValue:
        if self.method is AssignedMethod.CONSENSUS:
            if self.value is not None:
                raise ValueError("assigned.value must be absent when assigned.method is consensus")
        elif self.value is None:
            raise ValueError(f"assigned.value is required when assigned.method is {self.method}")
        if self.expanded_u is not None and self.k is None:
            raise ValueError("assigned.U needs its coverage factor k")
        return self


class SigmaPt(CanonicalModel):
    method: SigmaMethod
    value: PositiveFloat | None = None

    @model_validator(mode="after")
    def _check(self) -> SigmaPt:
        if self.method is SigmaMethod.FIXED and self.value is None:
            raise ValueError("sigmaPt.value is required when sigmaPt.method is fixed")
        return self


class PtResult(CanonicalModel):
    """One participant's result; `z` … `En` are scores an export reported, if any.

    Reported scores are never trusted as they are: scoring recomputes them and
    rejects the round when they disagree beyond rounding.
    """

    lab: ShortStr
    value: FiniteFloat | None = None
    u: PositiveFloat | None = None
    expanded_u: PositiveFloat | None = Field(default=None, alias="U")
    k: PositiveFloat | None = None
    remark: ShortStr | None = None
    z: FiniteFloat | None = None
    z_prime: FiniteFloat | None = None
    zeta: FiniteFloat | None = None
    en: FiniteFloat | None = Field(default=None, alias="En")

    @model_validator(mode="after")
    def _check(self) -> PtResult:
        if self.value is None and not self.remark:
            raise ValueError(f"result of {self.lab} has no value and no remark saying why")
        if self.expanded_u is not None and self.k is None:
            raise ValueError(f"result of {self.lab}: U needs its coverage factor k")
        return self


class ScoreSignals(CanonicalModel):
    z: Signal | None = None
    z_prime: Signal | None = None
    zeta: Signal | None = None
    en: Signal | None = Field(default=None, alias="En")


class ResultScore(CanonicalModel):
    lab: ShortStr
    value: FiniteFloat | None = None
    z: FiniteFloat | None = None
    z_prime: FiniteFloat | None = None
    zeta: FiniteFloat | None = None
    en: FiniteFloat | None = Field(default=None, alias="En")
    signals: ScoreSignals = Field(default_factory=ScoreSignals)
    remark: str | None = None

    @property
    def satisfactory(self) -> bool:
        """The result was judged and no score calls for action (ISO 13528: a warning
        signal is questionable, not unsatisfactory); a result never scored is not."""
        judged = [s for s in (self.signals.z, self.signals.z_prime, self.signals.zeta, self.signals.en) if s]
        return bool(judged) and Signal.ACTION not in judged


class ScoredAssigned(CanonicalModel):
    value: FiniteFloat
    u: FiniteFloat | None = None
    method: AssignedMethod
    u_negligible: bool | None = None


class ScoredSigma(CanonicalModel):
    value: PositiveFloat
    method: SigmaMethod


class AlgorithmAResult(CanonicalModel):
    mean: FiniteFloat
    sd: FiniteFloat
    iterations: int


class PtScoring(CanonicalModel):
    """The scores as `exchange pt score` reports them (same keys)."""

    assigned: ScoredAssigned
    sigma_pt: ScoredSigma
    algorithm_a: AlgorithmAResult | None = None
    participants: int
    results: list[ResultScore]


class PtRound(CanonicalModel):
    kind: Literal[Kind.PT] = Kind.PT
    provider: Provider
    scheme: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")]
    round: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")]
    matrix: ShortStr
    measurand: ShortStr
    unit: ShortStr
    assigned: AssignedValue
    sigma_pt: SigmaPt
    results: list[PtResult] = Field(min_length=1, max_length=10000)
    scoring: PtScoring | None = None

    @model_validator(mode="after")
    def _unique_labs(self) -> PtRound:
        seen: set[str] = set()
        for r in self.results:
            if r.lab in seen:
                raise ValueError(f"lab {r.lab} reports more than one result")
            seen.add(r.lab)
        return self

    @property
    def record_id(self) -> str:
        return f"{self.scheme}-{self.round}"
