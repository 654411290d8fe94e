"""NZ (EESS) product-certificate format: rendering, derived EESS values, the round trip,
an EESS record coming back, errors that name the field, and hostile input."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from lxml import etree

from adapters.nz import format as nz
from exchange.checks import mapping_problems
from exchange.config import load_config
from exchange.errors import DocumentError, MappingError, RecordError
from exchange.model import Kind, ProductCertificate
from exchange.resources import schema_path
from exchange.scope import category_sectors
from exchange.xml.schema import load_schema
from tests import canonical_samples as samples

CATEGORIES = [
    "0701", "0702", "0703", "0705", "0717", "0718", "0901",
    "0902", "0903", "0907", "1001", "1606", "2202", "2203",
]  # fmt: skip
"""All CCC catalogue codes the domestic exports use (domestic-formats.md)."""

NS = "urn:mra-exchange:nz:ccc:1.0"
NSMAP = {"nz": NS}
LINE_COLUMN = re.compile(r"^\d+:\d+\b")

SUPPLIER: dict[str, Any] = {
    "name": "Kiwi Power Imports Ltd",
    "address": "12 Example Street, Penrose, Auckland 1061",
    "country": "NZ",
    "supplierNumber": "E512",
    "taxId": "123-456-789",
}


def _text(root: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in root.iterfind(path, NSMAP)]


def _document(record: ProductCertificate) -> etree._Element:
    """The converted (schema-checked) document as a tree, for looking into."""
    return etree.fromstring(nz.convert(record))


def _pretty(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _line_of(data: bytes, needle: bytes) -> int:
    return data[: data.index(needle)].count(b"\n") + 1


# -- the format as a whole --------------------------------------------------------------


def test_one_versioned_namespace_for_product_certificates() -> None:
    assert NS == "urn:mra-exchange:nz:ccc:1.0"
    assert dict(nz.namespaces()) == {NS: Kind.CCC}
    assert nz.families == frozenset({Kind.CCC})
    assert load_schema(schema_path("nz", "ccc-1.0.xsd")).target_namespace == NS


def test_the_schema_has_no_wildcards() -> None:
    xsd = etree.parse(str(schema_path("nz", "ccc-1.0.xsd")))
    xs = "{http://www.w3.org/2001/XMLSchema}"
    assert not list(xsd.iter(f"{xs}any", f"{xs}anyAttribute"))
    assert not [e for e in xsd.iter() if e.get("processContents")]


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_renders_and_validates(category: str) -> None:
    data = nz.convert(samples.certificate(category=category))
    assert nz.check_bytes(data) is Kind.CCC


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_round_trips(category: str) -> None:
    record = samples.certificate(category=category)
    assert nz.parse(nz.convert(record)) == record


def test_a_minimal_record_round_trips() -> None:
    record = samples.certificate(
        certBody={"name": "中国质量认证中心"},
        applicant={"name": "深圳市示例电子有限公司", "country": "CN"},
        manufacturer={"name": "深圳市示例电子有限公司", "country": "CN"},
        factories=[{"name": "示例工厂", "country": "CN"}],
        product={"name": "电源适配器", "category": "0907", "models": ["PA-1"]},
        standards=["GB 4943.1-2022"],
        expiryDate=None,
        testReports=[],
        history=[],
    )
    root = _document(record)
    assert root.find("nz:ResponsibleSupplier", NSMAP) is None
    assert root.find("nz:StatusHistory", NSMAP) is None
    assert nz.parse(nz.convert(record)) == record


def test_a_multi_line_address_and_markup_characters_round_trip() -> None:
    holder = {
        "name": 'A & B <"Trading"> Ltd',
        "address": "Level 2\r\n12 Example Street\nAuckland 1061",
        "country": "NZ",
    }
    record = samples.certificate(applicant=holder)
    assert nz.parse(nz.convert(record)) == record


def test_every_status_round_trips_in_eess_wording() -> None:
    wording = {
        "VALID": "Current",
        "SUSPENDED": "Suspended",
        "WITHDRAWN": "Withdrawn",
        "CANCELLED": "Cancelled",
        "EXPIRED": "Expired",
    }
    for canonical, eess in wording.items():
        record = samples.certificate(status=canonical)
        assert _text(_document(record), "nz:Status") == [eess]
        assert nz.parse(nz.convert(record)) == record


# -- derived EESS values ---------------------------------------------------------------


@pytest.mark.parametrize("category", CATEGORIES)
def test_certificate_type_and_registration_follow_the_risk_level(category: str) -> None:
    root = _document(samples.certificate(category=category))
    level = _text(root, "nz:Product/nz:RiskLevel")
    (registration,) = _text(root, "nz:Product/nz:RegistrationRequired")
    (cert_type,) = _text(root, "nz:CertificateType")
    assert cert_type == ("Certificate of Conformity" if level == ["3"] else "Certificate of Suitability")
    assert registration == ("true" if level in (["2"], ["3"]) else "false")


def test_the_chosen_risk_levels() -> None:
    levels = {c: _text(_document(samples.certificate(category=c)), "nz:Product/nz:RiskLevel")
              for c in CATEGORIES}  # fmt: skip
    assert levels == {
        "0701": ["3"], "0702": ["3"], "0703": ["3"], "0705": ["3"], "0717": ["3"],
        "0718": ["3"], "0901": ["1"], "0902": ["1"], "0903": ["1"], "0907": ["3"],
        "1001": ["2"], "1606": ["1"], "2202": ["1"], "2203": [],
    }  # fmt: skip


def test_plastic_toys_have_no_risk_level_element() -> None:
    root = _document(samples.certificate(category="2203"))
    product = root.find("nz:Product", NSMAP)
    assert product is not None
    assert product.find("nz:RiskLevel", NSMAP) is None
    assert _text(root, "nz:Product/nz:RegistrationRequired") == ["false"]
    assert _text(root, "nz:CertificateType") == ["Certificate of Suitability"]


def test_a_risk_level_outside_the_schema_fails_it() -> None:
    root = _document(samples.certificate(category="0907"))
    level = root.find("nz:Product/nz:RiskLevel", NSMAP)
    assert level is not None
    level.text = "none"
    with pytest.raises(DocumentError):
        nz.validate(Kind.CCC, etree.tostring(root))


def test_code_lists_cover_every_category_and_status() -> None:
    lists = nz.code_lists(Kind.CCC)
    for name in ("risk-level", "registration", "certificate-type"):
        assert lists[name].domain == "category"
        assert set(lists[name].forward) == set(CATEGORIES)
        assert lists[name].one_way, f"{name} is derived: it must never be read back"
    assert lists["risk-level"].forward["2203"] is None  # listed as absent: no EESS level
    assert set(category_sectors()) == set(CATEGORIES)
    assert set(lists["status"].forward) == {
        "VALID", "SUSPENDED", "WITHDRAWN", "CANCELLED", "EXPIRED",
    }  # fmt: skip


def test_the_start_up_coverage_check_finds_nothing_missing() -> None:
    assert mapping_problems(load_config(), ["nz"]) == []


def test_derived_values_in_an_incoming_document_are_not_read_back() -> None:
    record = samples.certificate(category="1001")
    root = _document(record)
    level = root.find("nz:Product/nz:RiskLevel", NSMAP)
    assert level is not None
    level.text = "3"  # valid in the schema, inconsistent with 1001: ignored, not stored
    assert nz.parse(_pretty(root)) == record


# -- supplier of record ----------------------------------------------------------------


def test_a_ccc_record_carries_the_applicant_as_certificate_holder_only() -> None:
    record = samples.certificate()
    root = _document(record)
    assert _text(root, "nz:CertificateHolder/nz:NameEn") == ["Shenzhen Example Electronics Co., Ltd."]
    assert root.find("nz:ResponsibleSupplier", NSMAP) is None


def test_a_responsible_supplier_is_carried_and_round_trips() -> None:
    record = samples.certificate(responsibleSupplier=SUPPLIER)
    root = _document(record)
    assert _text(root, "nz:ResponsibleSupplier/nz:TradingName") == ["Kiwi Power Imports Ltd"]
    assert _text(root, "nz:ResponsibleSupplier/nz:SupplierNumber") == ["E512"]
    assert _text(root, "nz:ResponsibleSupplier/nz:IrdOrAbn") == ["123-456-789"]
    assert _text(root, "nz:ResponsibleSupplier/nz:Country") == ["NZ"]
    assert nz.parse(nz.convert(record)) == record


def test_an_australian_supplier_with_an_abn_round_trips() -> None:
    supplier = {"name": "Example Imports Pty Ltd", "country": "AU", "taxId": "51 824 753 556"}
    record = samples.certificate(responsibleSupplier=supplier)
    assert nz.parse(nz.convert(record)) == record


# -- an EESS record coming back from New Zealand -----------------------------------------

EESS_DOCUMENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<nz:ProductCertificate xmlns:nz="urn:mra-exchange:nz:ccc:1.0" version="1.0">
  <nz:Scheme>EESS</nz:Scheme>
  <nz:CertificateNumber>NZ-ESS-2021-0042</nz:CertificateNumber>
  <nz:CertificateType>Certificate of Conformity</nz:CertificateType>
  <nz:Status>Current</nz:Status>
  <nz:CertificationBody>
    <nz:Name>Example Certification NZ Ltd</nz:Name>
  </nz:CertificationBody>
  <nz:CertificateHolder>
    <nz:Name>Kiwi Power Imports Ltd</nz:Name>
    <nz:Address>12 Example Street, Penrose, Auckland 1061</nz:Address>
    <nz:Country>NZ</nz:Country>
  </nz:CertificateHolder>
  <nz:ResponsibleSupplier>
    <nz:TradingName>Kiwi Power Imports Ltd</nz:TradingName>
    <nz:Address>12 Example Street, Penrose, Auckland 1061</nz:Address>
    <nz:Country>NZ</nz:Country>
    <nz:IrdOrAbn>123-456-789</nz:IrdOrAbn>
    <nz:SupplierNumber>E512</nz:SupplierNumber>
  </nz:ResponsibleSupplier>
  <nz:Manufacturer>
    <nz:Name>Example Power Technology Co., Ltd.</nz:Name>
    <nz:Country>CN</nz:Country>
  </nz:Manufacturer>
  <nz:Product>
    <nz:Name>USB power supply</nz:Name>
    <nz:Category>0907</nz:Category>
    <nz:RiskLevel>3</nz:RiskLevel>
    <nz:RegistrationRequired>true</nz:RegistrationRequired>
    <nz:Models>
      <nz:Model>KP-5V2A</nz:Model>
      <nz:Model>KP-5V3A</nz:Model>
    </nz:Models>
    <nz:Brand>KiwiPower</nz:Brand>
  </nz:Product>
  <nz:Standards>
    <nz:Standard>AS/NZS 62368.1:2018</nz:Standard>
    <nz:Standard>AS/NZS 3112:2017</nz:Standard>
  </nz:Standards>
  <nz:IssueDate>2021-06-15</nz:IssueDate>
  <nz:ExpiryDate>2026-06-14</nz:ExpiryDate>
  <nz:TestReport>
    <nz:ReportNumber>TR-2021-0612</nz:ReportNumber>
    <nz:Laboratory>Example Testing Laboratory NZ</nz:Laboratory>
    <nz:LaboratoryAccreditation>IANZ 1234</nz:LaboratoryAccreditation>
  </nz:TestReport>
</nz:ProductCertificate>
"""

EESS_RECORD = ProductCertificate.model_validate(
    {
        "scheme": "EESS",
        "certNo": "NZ-ESS-2021-0042",
        "status": "VALID",
        "certBody": {"name": "Example Certification NZ Ltd"},
        "applicant": {
            "name": "Kiwi Power Imports Ltd",
            "address": "12 Example Street, Penrose, Auckland 1061",
            "country": "NZ",
        },
        "manufacturer": {"name": "Example Power Technology Co., Ltd.", "country": "CN"},
        "responsibleSupplier": SUPPLIER,
        "product": {
            "name": "USB power supply",
            "category": "0907",
            "models": ["KP-5V2A", "KP-5V3A"],
            "brands": ["KiwiPower"],
        },
        "standards": ["AS/NZS 62368.1:2018", "AS/NZS 3112:2017"],
        "issueDate": date(2021, 6, 15),
        "expiryDate": date(2026, 6, 14),
        "testReports": [
            {
                "reportNo": "TR-2021-0612",
                "lab": "Example Testing Laboratory NZ",
                "labAccreditation": "IANZ 1234",
            }
        ],
    }
)


def test_an_eess_document_from_nz_parses_into_the_canonical_record() -> None:
    assert nz.check_bytes(EESS_DOCUMENT) is Kind.CCC
    record = nz.parse(EESS_DOCUMENT)
    assert record == EESS_RECORD
    assert isinstance(record, ProductCertificate)
    assert record.scheme == "EESS" and record.factories == []
    assert record.responsible_supplier is not None
    assert record.responsible_supplier.supplier_number == "E512"


def test_an_eess_record_goes_out_and_comes_back_unchanged() -> None:
    data = nz.convert(EESS_RECORD)
    assert nz.parse(data) == EESS_RECORD
    assert nz.convert(nz.parse(EESS_DOCUMENT)) == data


def test_an_eess_number_must_have_the_eess_structure() -> None:
    bad = EESS_DOCUMENT.replace(b"NZ-ESS-2021-0042", b"nz-ess-2021-0042")
    with pytest.raises(DocumentError):
        nz.parse(bad)


def test_a_ccc_document_without_factory_is_a_record_error() -> None:
    """The schema allows it (EESS records have none); the canonical model does not for CCC."""
    ccc = EESS_DOCUMENT.replace(b"<nz:Scheme>EESS", b"<nz:Scheme>CCC").replace(
        b"NZ-ESS-2021-0042", b"2021010907000042"
    )
    with pytest.raises(RecordError, match="factory"):
        nz.parse(ccc)


def test_an_expiry_before_issue_is_a_record_error() -> None:
    bad = EESS_DOCUMENT.replace(b"2026-06-14", b"2020-06-14")
    with pytest.raises(RecordError, match="expiryDate"):
        nz.parse(bad)


# -- mapping errors name the field and the partner ---------------------------------------


def _mapping_error(record: ProductCertificate) -> MappingError:
    with pytest.raises(MappingError) as caught:
        nz.map(record)
    assert "nz" in str(caught.value)
    return caught.value


def test_an_unmapped_category_names_field_and_partner() -> None:
    error = _mapping_error(samples.certificate(category="0704"))
    assert error.field == "product.category"
    assert "'0704'" in str(error)


def test_a_kc_certificate_has_no_place_in_the_nz_format() -> None:
    kc = samples.certificate(scheme="KC", certNo="SU071356-12001")
    assert _mapping_error(kc).field == "scheme"


def test_a_supplier_outside_australia_and_new_zealand_is_refused() -> None:
    record = samples.certificate(responsibleSupplier={**SUPPLIER, "country": "CN"})
    assert _mapping_error(record).field == "responsibleSupplier.country"


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"issue_date": None}, "issueDate"),
        ({"cert_no": ""}, "certNo"),
    ],
)
def test_a_missing_required_value_names_the_field(update: dict[str, Any], field: str) -> None:
    record = samples.certificate().model_copy(update=update)
    with pytest.raises(MappingError) as caught:
        nz.map(record)
    assert caught.value.field == field


def test_a_missing_certificate_holder_names_the_field() -> None:
    record = samples.certificate().model_copy(update={"applicant": None})
    with pytest.raises(MappingError) as caught:
        nz.map(record)
    assert caught.value.field == "applicant"


# -- the schema rejects tampered documents, saying where ------------------------------------


def _rejected(data: bytes) -> list[str]:
    with pytest.raises(DocumentError) as caught:
        nz.check_bytes(data)
    messages = caught.value.messages
    assert messages and all(LINE_COLUMN.match(m) for m in messages), messages
    return messages


def test_a_wrong_status_is_rejected_at_its_line() -> None:
    data = _pretty(_document(samples.certificate())).replace(
        b"<nz:Status>Current</nz:Status>", b"<nz:Status>Valid</nz:Status>", 1
    )
    messages = _rejected(data)
    line = _line_of(data, b"<nz:Status>Valid")
    assert messages[0].startswith(f"{line}:")
    assert "Valid" in messages[0]


def test_a_wrong_risk_level_is_rejected() -> None:
    data = _pretty(_document(samples.certificate())).replace(
        b"<nz:RiskLevel>3</nz:RiskLevel>", b"<nz:RiskLevel>4</nz:RiskLevel>"
    )
    assert any("RiskLevel" in m for m in _rejected(data))


def test_a_wrong_certificate_type_is_rejected() -> None:
    data = _pretty(_document(samples.certificate())).replace(
        b"Certificate of Conformity", b"Certificate of Compliance"
    )
    _rejected(data)


def test_a_supplier_country_outside_au_nz_is_rejected_on_parse() -> None:
    data = EESS_DOCUMENT.replace(
        b"<nz:Country>NZ</nz:Country>\n    <nz:IrdOrAbn>",
        b"<nz:Country>CN</nz:Country>\n    <nz:IrdOrAbn>",
    )
    assert data != EESS_DOCUMENT
    _rejected(data)


@pytest.mark.parametrize("tag", ["CertificateHolder", "CertificateType", "Status", "Standards", "IssueDate"])
def test_a_missing_required_element_is_rejected(tag: str) -> None:
    root = _document(samples.certificate())
    element = root.find(f"nz:{tag}", NSMAP)
    assert element is not None
    root.remove(element)
    messages = _rejected(_pretty(root))
    assert any("Missing child element" in m or "not expected" in m for m in messages)


def test_an_unknown_element_is_rejected() -> None:
    root = _document(samples.certificate())
    product = root.find("nz:Product", NSMAP)
    assert product is not None
    etree.SubElement(product, f"{{{NS}}}Ratings").text = "230 V 50 Hz 0.5 A"
    _rejected(_pretty(root))


def test_a_document_of_another_partner_is_refused() -> None:
    data = EESS_DOCUMENT.replace(b"urn:mra-exchange:nz:ccc:1.0", b"urn:mra-exchange:eu:ccc:1.0")
    with pytest.raises(DocumentError, match="not a nz document"):
        nz.parse(data)


# -- hostile input -------------------------------------------------------------------------

HOSTILE = {
    "xxe": (
        b'<?xml version="1.0"?><!DOCTYPE nz:ProductCertificate [<!ENTITY x SYSTEM '
        b'"file:///etc/passwd">]><nz:ProductCertificate xmlns:nz="urn:mra-exchange:nz:ccc:1.0" '
        b'version="1.0">&x;</nz:ProductCertificate>'
    ),
    "entity-expansion": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&%s;" % bytes([97 + i])) * 10) for i in range(9)
        )
        + b"]><r>&j;</r>"
    ),
    "deep-nesting": b"<a>" * 100 + b"</a>" * 100,
    "ten-megabytes": b'<nz:ProductCertificate xmlns:nz="urn:mra-exchange:nz:ccc:1.0">'
    + b"x" * (10 * 1024 * 1024)
    + b"</nz:ProductCertificate>",
    "not-xml": b"\xff\xfe\x00garbage",
    "empty": b"   ",
    "unclosed": EESS_DOCUMENT[:-30],
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_a_document_error(name: str) -> None:
    with pytest.raises(DocumentError):
        nz.parse(HOSTILE[name])
    with pytest.raises(DocumentError):
        nz.check_bytes(HOSTILE[name])
