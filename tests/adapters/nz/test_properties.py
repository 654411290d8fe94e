"""Property: every canonical product certificate the NZ format can hold survives
canonical -> NZ document -> canonical unchanged, and its derived EESS values agree."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.nz import format as nz
from exchange.model import Kind, ProductCertificate

CATEGORIES = [
    "0701", "0702", "0703", "0705", "0717", "0718", "0901",
    "0902", "0903", "0907", "1001", "1606", "2202", "2203",
]  # fmt: skip
COUNTRIES = ["CN", "VN", "MY", "TH", "DE", "AU", "NZ"]
STATUSES = ["VALID", "SUSPENDED", "WITHDRAWN", "CANCELLED", "EXPIRED"]

# Letters, CJK, digits, punctuation XML must escape, and blanks (inside text only: the
# model strips the ends, the schema forbids blank ends). Names and labels are single-line;
# addresses and reasons may hold line breaks and tabs (the README's text rule).
_CHARS = [*"AZaz09 .,-/()&<>'\"#", "深", "圳", "电", "源"]
_BREAKS = ["\n", "\r", "\t"]


def _text(max_size: int, chars: list[str] = _CHARS) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(chars), min_size=1, max_size=max_size).map(str.strip).filter(bool)


SHORT = _text(40)
LONG = _text(120)
MULTILINE = _text(120, _CHARS + _BREAKS)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def parties(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "name": draw(LONG),
        "nameEn": draw(_optional(LONG)),
        "address": draw(_optional(MULTILINE)),
        "country": draw(st.sampled_from(COUNTRIES)),
    }


@st.composite
def suppliers(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "name": draw(LONG),
        "address": draw(_optional(MULTILINE)),
        "country": draw(st.sampled_from(["AU", "NZ"])),
        "supplierNumber": draw(_optional(st.from_regex(r"[A-Z][0-9]{1,8}", fullmatch=True))),
        "taxId": draw(_optional(st.from_regex(r"[0-9][0-9 \-]{6,12}[0-9]", fullmatch=True))),
    }


@st.composite
def certificates(draw: st.DrawFn) -> ProductCertificate:
    scheme = draw(st.sampled_from(["CCC", "EESS"]))
    if scheme == "CCC":
        cert_no = draw(st.from_regex(r"20[0-9]{2}[0-9]{12}", fullmatch=True))
        manufacturer = draw(parties())
        factories = draw(st.lists(parties(), min_size=1, max_size=3))
    else:
        cert_no = draw(st.from_regex(r"[A-Z0-9][A-Z0-9/.\-]{2,39}", fullmatch=True))
        manufacturer = draw(_optional(parties()))
        factories = draw(st.lists(parties(), max_size=2))
    issue = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)))
    expiry = draw(_optional(st.integers(0, 3650).map(lambda d: issue + timedelta(days=d))))
    data = {
        "scheme": scheme,
        "certNo": cert_no,
        "status": draw(st.sampled_from(STATUSES)),
        "certBody": {
            "code": draw(_optional(st.from_regex(r"[0-9]{2}", fullmatch=True))),
            "name": draw(LONG),
            "nameEn": draw(_optional(LONG)),
        },
        "applicant": draw(parties()),
        "manufacturer": manufacturer,
        "factories": factories,
        "responsibleSupplier": draw(_optional(suppliers())),
        "product": {
            "name": draw(LONG),
            "nameEn": draw(_optional(LONG)),
            "category": draw(st.sampled_from(CATEGORIES)),
            "models": draw(st.lists(SHORT, min_size=1, max_size=5)),
            "hsCode": draw(_optional(st.from_regex(r"[0-9]{6,10}", fullmatch=True))),
            "brands": draw(st.lists(SHORT, max_size=3)),
        },
        "standards": draw(st.lists(SHORT, min_size=1, max_size=4)),
        "issueDate": issue,
        "expiryDate": expiry,
        "testReports": draw(
            st.lists(
                st.fixed_dictionaries({"reportNo": SHORT, "lab": LONG, "labAccreditation": _optional(SHORT)}),
                max_size=3,
            )
        ),
        "history": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "date": st.dates(min_value=date(1990, 1, 1)),
                        "status": st.sampled_from(STATUSES),
                        "reason": _optional(MULTILINE),
                    }
                ),
                max_size=3,
            )
        ),
    }
    return ProductCertificate.model_validate(data)


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(certificates())
def test_round_trip_preserves_every_carried_field(record: ProductCertificate) -> None:
    data = nz.convert(record)
    assert nz.check_bytes(data) is Kind.CCC
    assert nz.parse(data) == record


@FAST
@given(certificates())
def test_derived_eess_values_agree_with_each_other(record: ProductCertificate) -> None:
    root = etree.fromstring(nz.convert(record))
    ns = {"nz": "urn:mra-exchange:nz:ccc:1.0"}
    level = [e.text for e in root.iterfind("nz:Product/nz:RiskLevel", ns)]
    registration = root.findtext("nz:Product/nz:RegistrationRequired", namespaces=ns)
    cert_type = root.findtext("nz:CertificateType", namespaces=ns)
    assert (level == []) == (record.product.category == "2203")
    assert registration == ("true" if level in (["2"], ["3"]) else "false")
    assert cert_type == ("Certificate of Conformity" if level == ["3"] else "Certificate of Suitability")
