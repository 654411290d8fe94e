"""Canonical model: the one shape every intake produces and every partner format maps from."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from exchange.model.certificate import (
    CertificationBody,
    CertScheme,
    CertStatus,
    Product,
    ProductCertificate,
    ResponsibleSupplier,
    StatusChange,
    TestReport,
)
from exchange.model.common import ISO_ALPHA2, CanonicalModel, CountryCode, Kind, Party
from exchange.model.glp import GlpArea, GlpStatement, GlpStatus, Inspection, InspectionType, StudyAudit
from exchange.model.pt import (
    AssignedMethod,
    AssignedValue,
    Provider,
    PtResult,
    PtRound,
    PtScoring,
    SigmaMethod,
    SigmaPt,
    Signal,
)

Record = Annotated[ProductCertificate | GlpStatement | PtRound, Field(discriminator="kind")]
"""Any canonical record; `kind` tells which family."""

RECORD_ADAPTER: TypeAdapter[ProductCertificate | GlpStatement | PtRound] = TypeAdapter(Record)

MODEL_BY_KIND: dict[Kind, type[ProductCertificate | GlpStatement | PtRound]] = {
    Kind.CCC: ProductCertificate,
    Kind.GLP: GlpStatement,
    Kind.PT: PtRound,
}

__all__ = [
    "ISO_ALPHA2",
    "MODEL_BY_KIND",
    "RECORD_ADAPTER",
    "AssignedMethod",
    "AssignedValue",
    "CanonicalModel",
    "CertScheme",
    "CertStatus",
    "CertificationBody",
    "CountryCode",
    "GlpArea",
    "GlpStatement",
    "GlpStatus",
    "Inspection",
    "InspectionType",
    "Kind",
    "Party",
    "Product",
    "ProductCertificate",
    "Provider",
    "PtResult",
    "PtRound",
    "PtScoring",
    "Record",
    "ResponsibleSupplier",
    "SigmaMethod",
    "SigmaPt",
    "Signal",
    "StatusChange",
    "StudyAudit",
    "TestReport",
]
