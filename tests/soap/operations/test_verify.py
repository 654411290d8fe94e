"""VerifyCertificate over zeep: the status domestic records gave a CCC certificate."""

from __future__ import annotations

from datetime import date

import pytest

from tests import canonical_samples as samples
from tests.soap.support import Endpoint, expect_fault


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_known_certificate_reports_status_dates_and_last_change(endpoint: Endpoint, version: str) -> None:
    endpoint.store.record_certificate(
        samples.certificate(
            status="SUSPENDED",
            expiryDate=date(2099, 3, 1),
            history=[
                {"date": date(2021, 5, 6), "status": "VALID", "reason": "models added"},
                {"date": date(2023, 9, 1), "status": "SUSPENDED", "reason": "factory inspection failed"},
            ],
        )
    )
    cert = endpoint.service("eu", version=version).VerifyCertificate(CertificateNumber="2019010907123456")
    assert cert.Status == "SUSPENDED"
    assert (cert.IssueDate, cert.ExpiryDate) == (date(2019, 3, 1), date(2099, 3, 1))
    assert (cert.LastChange.Date, cert.LastChange.Status) == (date(2023, 9, 1), "SUSPENDED")
    assert cert.LastChange.Reason == "factory inspection failed"
    assert cert.CheckedAt.tzinfo is not None


def test_a_valid_certificate_past_its_expiry_date_is_expired(endpoint: Endpoint) -> None:
    endpoint.store.record_certificate(samples.certificate(expiryDate=date(2024, 3, 1)))
    cert = endpoint.service("nz").VerifyCertificate(CertificateNumber="2019010907123456")
    assert cert.Status == "EXPIRED"
    assert cert.LastChange.Status == "VALID"


def test_an_unknown_certificate_is_a_fault_and_audited(endpoint: Endpoint) -> None:
    expect_fault(
        "UNKNOWN_CERTIFICATE", endpoint.service("nz").VerifyCertificate, CertificateNumber="2020010907000001"
    )
    rejected = endpoint.last_rejection()
    assert (rejected.record_id, rejected.partner) == ("2020010907000001", "nz")


def test_a_certificate_outside_the_agreement_scope_is_answered_as_unknown(endpoint: Endpoint) -> None:
    endpoint.store.record_certificate(samples.certificate(category="2203", certNo="2019012203123456"))
    nz = endpoint.service("nz")
    outside = expect_fault("UNKNOWN_CERTIFICATE", nz.VerifyCertificate, CertificateNumber="2019012203123456")
    unknown = expect_fault("UNKNOWN_CERTIFICATE", nz.VerifyCertificate, CertificateNumber="2019012203654321")
    blank = outside.message.replace("2019012203123456", "N")
    assert blank == unknown.message.replace("2019012203654321", "N")
    *_, audited_outside, audited_unknown = endpoint.rejections()  # our own audit still tells them apart
    assert audited_outside.details["outsideScope"] is True and "outsideScope" not in audited_unknown.details
    # The EU agreement has no sector restriction.
    assert endpoint.service("eu").VerifyCertificate(CertificateNumber="2019012203123456").Status == "EXPIRED"


def test_a_number_that_is_not_a_ccc_number_is_schema_invalid(endpoint: Endpoint) -> None:
    exc = expect_fault("SCHEMA_INVALID", endpoint.service("nz").VerifyCertificate, CertificateNumber="NZ-1")
    assert "CertificateNumber" in exc.detail.findtext(".//{urn:mra-exchange:soap:1.0}Problem")  # type: ignore[union-attr]
