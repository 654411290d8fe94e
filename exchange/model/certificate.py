"""Canonical product certificate: CCC records going out, KC and EESS records coming back."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from exchange.model.common import (
    CanonicalModel,
    CountryCode,
    Kind,
    MultiLineStr,
    NonEmptyStr,
    Party,
    ShortStr,
)


class CertScheme(StrEnum):
    CCC = "CCC"
    KC = "KC"
    EESS = "EESS"


class CertStatus(StrEnum):
    """Canonical status; every partner code list maps to and from these five."""

    VALID = "VALID"
    SUSPENDED = "SUSPENDED"
    WITHDRAWN = "WITHDRAWN"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


# CCC number: issue year (4) + certification body (2) + product class/subclass (4) + sequence (6).
CCC_NUMBER = re.compile(r"^(?P<year>(19|20)\d{2})(?P<body>\d{2})(?P<cls>\d{4})(?P<seq>\d{6})$")
KC_NUMBER = re.compile(r"^[A-Z]{2}\d{5,8}-\d{4,5}[A-Z]?$")
EESS_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9/.\-]{2,39}$")
_NUMBER_RULES = {CertScheme.CCC: CCC_NUMBER, CertScheme.KC: KC_NUMBER, CertScheme.EESS: EESS_NUMBER}

CategoryCode = Annotated[str, StringConstraints(pattern=r"^\d{4}$")]
"""A CCC catalogue code: the canonical product category for every scheme."""


class CertificationBody(CanonicalModel):
    code: Annotated[str, StringConstraints(pattern=r"^\d{2}$")] | None = None
    name: NonEmptyStr
    name_en: NonEmptyStr | None = None


class Product(CanonicalModel):
    name: NonEmptyStr
    name_en: NonEmptyStr | None = None
    category: CategoryCode
    models: list[ShortStr] = Field(min_length=1, max_length=5000)
    hs_code: Annotated[str, StringConstraints(pattern=r"^\d{6,10}$")] | None = None
    brands: list[ShortStr] = Field(default_factory=list)


class TestReport(CanonicalModel):
    report_no: ShortStr
    lab: NonEmptyStr
    lab_accreditation: ShortStr | None = None


class StatusChange(CanonicalModel):
    date: date
    status: CertStatus
    reason: MultiLineStr | None = None


class ResponsibleSupplier(CanonicalModel):
    """EESS responsible supplier (AU/NZ); carried on NZ records and NZ output."""

    name: NonEmptyStr
    address: MultiLineStr | None = None
    country: CountryCode
    supplier_number: Annotated[str, StringConstraints(pattern=r"^[A-Z]\d{1,8}$")] | None = None
    tax_id: Annotated[str, StringConstraints(pattern=r"^[0-9 \-]{8,14}$")] | None = None


class ProductCertificate(CanonicalModel):
    kind: Literal[Kind.CCC] = Kind.CCC
    scheme: CertScheme = CertScheme.CCC
    cert_no: Annotated[str, StringConstraints(min_length=3, max_length=40)]
    status: CertStatus
    cert_body: CertificationBody
    applicant: Party
    manufacturer: Party | None = None
    factories: list[Party] = Field(default_factory=list, max_length=500)
    responsible_supplier: ResponsibleSupplier | None = None
    product: Product
    standards: list[ShortStr] = Field(min_length=1, max_length=500)
    issue_date: date
    expiry_date: date | None = None
    test_reports: list[TestReport] = Field(default_factory=list)
    history: list[StatusChange] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_structure(self) -> ProductCertificate:
        rule = _NUMBER_RULES[self.scheme]
        if not rule.match(self.cert_no):
            raise ValueError(f"certNo {self.cert_no!r} does not have the structure of a {self.scheme} number")
        if self.scheme is CertScheme.CCC:
            if self.manufacturer is None:
                raise ValueError("manufacturer is required on a CCC certificate")
            if not self.factories:
                raise ValueError("factory is required on a CCC certificate")
        if self.expiry_date is not None and self.expiry_date < self.issue_date:
            raise ValueError(f"expiryDate {self.expiry_date} is before issueDate {self.issue_date}")
        return self

    @property
    def record_id(self) -> str:
        return self.cert_no


__all__ = [
    "CertScheme",
    "CertStatus",
    "CertificationBody",
    "CountryCode",
    "Party",
    "Product",
    "ProductCertificate",
    "ResponsibleSupplier",
    "StatusChange",
    "TestReport",
]
