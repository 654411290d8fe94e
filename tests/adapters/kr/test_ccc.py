"""KR product certificates: CCC out in SafetyKorea-style fields, KC certificates back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.kr import format as kr
from exchange.checks import mapping_problems
from exchange.config import load_config
from exchange.errors import DocumentError, MappingError
from exchange.model import CertScheme, CertStatus, Kind, ProductCertificate
from exchange.resources import schema_path
from exchange.scope import out_of_scope
from tests import canonical_samples as samples
from tests.adapters.eu.support import (
    DATES,
    HOSTILE,
    LINE_COLUMN,
    cert_numbers,
    edited_format,
    maybe,
    party,
    text,
)

NS = {"kr": "urn:mra-exchange:kr:ccc:1.0"}
XS = {"xs": "http://www.w3.org/2001/XMLSchema"}
CODES = kr.code_lists(Kind.CCC)
CATEGORIES = sorted(CODES["category"].forward)
COUNTRIES = sorted(CODES["country"].forward)
LABELS = {
    "적합": "VALID",
    "일시정지": "SUSPENDED",
    "안전인증취소": "WITHDRAWN",
    "반납": "CANCELLED",
    "기간만료": "EXPIRED",
}

SAMPLES: dict[str, ProductCertificate] = {
    "ccc-full": samples.certificate(),
    "ccc-minimal": samples.certificate(
        certBody={"name": "中国质量认证中心"},
        applicant={"name": "示例公司", "country": "CN"},
        manufacturer={"name": "示例公司", "country": "CN"},
        factories=[{"name": "示例工厂", "country": "CN"}],
        product={"name": "电饭锅", "category": "0718", "models": ["RC-1"]},
        standards=["GB 4706.19-2008"],
        expiryDate=None,
        testReports=[],
        history=[],
    ),
    "ccc-suspended-electric-toy": samples.certificate(
        category="2202",
        status="SUSPENDED",
        factories=[
            {"name": "EXAMPLE TOYS SDN BHD", "address": "Penang", "country": "MY"},
            {"name": "示例玩具厂", "country": "CN"},
        ],
        history=[
            {"date": "2020-01-01", "status": "VALID", "reason": "型号增加"},
            {"date": "2022-09-01", "status": "SUSPENDED", "reason": "获证后监督不合格"},
        ],
    ),
} | {f"ccc-{status.value.lower()}": samples.certificate(status=status.value) for status in CertStatus}

KC_DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<kr:certInfo xmlns:kr="urn:mra-exchange:kr:ccc:1.0" version="1.0">
  <kr:certScheme>KC</kr:certScheme>
  <kr:certNum>SU071356-12001</kr:certNum>
  <kr:certState code="{code}">{label}</kr:certState>
  <kr:certOrganName>한국산업기술시험원</kr:certOrganName>
  <kr:certOrganNameEng>Korea Testing Laboratory</kr:certOrganNameEng>
  <kr:certDate>2012-03-05</kr:certDate>
  <kr:productName>직류전원장치</kr:productName>
  <kr:categoryName code="0907">전원공급장치, 어댑터 및 충전기</kr:categoryName>
  <kr:modelNames><kr:modelName>KA-1205</kr:modelName><kr:modelName>KA-1210</kr:modelName></kr:modelNames>
  <kr:brandNames><kr:brandName>예시전자</kr:brandName></kr:brandNames>
  <kr:standards><kr:standardNum>KC 60950-1</kr:standardNum></kr:standards>
  <kr:applicantName>예시전자 주식회사</kr:applicantName>
  <kr:applicantAddr>서울특별시 금천구 예시로 1</kr:applicantAddr>
  <kr:applicantCntryName code="KR">대한민국</kr:applicantCntryName>
  <kr:factories>
    <kr:factory>
      <kr:makerName>EXAMPLE ELECTRONICS (SHENZHEN) CO., LTD.</kr:makerName>
      <kr:makerCntryName code="CN">중국</kr:makerCntryName>
    </kr:factory>
  </kr:factories>
  <kr:certChgHists>
    <kr:certChgHist>
      <kr:certChgDate>2015-07-01</kr:certChgDate>
      <kr:certState code="CHANGED">변경</kr:certState>
      <kr:certChgReason>파생모델 추가</kr:certChgReason>
    </kr:certChgHist>
  </kr:certChgHists>
</kr:certInfo>
"""


def _kc(code: str = "CHANGED", label: str = "변경") -> bytes:
    return KC_DOCUMENT.format(code=code, label=label).encode()


def _tree(record: ProductCertificate) -> etree._Element:
    return etree.fromstring(kr.convert(record))


# -- CCC going out ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_renders_and_validates(name: str) -> None:
    assert kr.check_bytes(kr.convert(SAMPLES[name])) is Kind.CCC


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_gives_the_same_certificate(name: str) -> None:
    assert kr.parse(kr.convert(SAMPLES[name])) == SAMPLES[name]


@pytest.mark.parametrize(("label", "status"), sorted(LABELS.items()))
def test_cert_state_has_a_code_and_its_korean_label(label: str, status: str) -> None:
    state = _tree(samples.certificate(status=status)).find("kr:certState", NS)
    assert state is not None
    assert state.text == label
    assert state.get("code") == ("RETURNED" if status == "CANCELLED" else status)


def test_korean_category_and_country_names_sit_beside_their_codes() -> None:
    root = _tree(samples.certificate())
    category = root.find("kr:categoryName", NS)
    assert category is not None
    assert (category.get("code"), category.text) == ("0907", "전원공급장치, 어댑터 및 충전기")
    factory_country = root.find("kr:factories/kr:factory/kr:makerCntryName", NS)
    assert factory_country is not None
    assert (factory_country.get("code"), factory_country.text) == ("VN", "베트남")
    assert root.findtext("kr:certNum", namespaces=NS) == "2019010907123456"
    assert root.findtext("kr:certOrganName", namespaces=NS) == "中国质量认证中心"
    models = [m.text for m in root.findall("kr:modelNames/kr:modelName", NS)]
    assert models == ["PA-12V-1A", "PA-12V-2A"]


def test_every_e_and_e_category_of_the_agreement_has_a_korean_name() -> None:
    assert mapping_problems(load_config(), ["kr"]) == []
    for category in ("0701", "0907", "1001", "1606", "2202"):
        assert kr.check_bytes(kr.convert(samples.certificate(category=category))) is Kind.CCC


def test_a_non_e_and_e_category_is_out_of_scope_and_unmapped() -> None:
    agreement = load_config().partners["kr"]
    assert out_of_scope(agreement, samples.certificate(category="0907")) is None
    assert out_of_scope(agreement, samples.certificate(category="2203")) is not None
    with pytest.raises(MappingError) as caught:
        kr.map(samples.certificate(category="2203"))
    assert caught.value.field == "product.category"
    assert "kr" in str(caught.value)


def test_the_required_countries_have_korean_names() -> None:
    required = {"CN", "VN", "MY", "TH", "KR", "JP", "US", "DE", "ID", "PH", "IN", "MX", "TR"}
    assert required <= set(COUNTRIES)
    names = list(CODES["country"].forward.values())
    assert len(names) == len(set(names))


def test_an_unmapped_country_names_field_and_partner() -> None:
    record = samples.certificate(factories=[{"name": "Fiji Works", "country": "FJ"}])
    with pytest.raises(MappingError) as caught:
        kr.map(record)
    assert caught.value.field == "factories[].country"
    assert "'FJ'" in str(caught.value) and "kr" in str(caught.value)


def test_an_eess_certificate_has_no_place_in_the_kr_format() -> None:
    record = samples.certificate(scheme="EESS", certNo="NZ-EESS-001")
    with pytest.raises(MappingError) as caught:
        kr.map(record)
    assert caught.value.field == "scheme"
    assert "kr" in str(caught.value)


def test_an_unmapped_status_names_field_and_partner(tmp_path: Path) -> None:
    fmt = edited_format("kr", tmp_path, lambda t: t.replace(', CANCELLED = "RETURNED"', ""))
    with pytest.raises(MappingError) as caught:
        fmt.map(samples.certificate(status="CANCELLED"))
    assert caught.value.field == "status"
    assert "kr" in str(caught.value)


def test_a_missing_required_value_is_a_mapping_error_naming_it() -> None:
    product = samples.certificate().product.model_copy(update={"name": ""})
    record = samples.certificate().model_copy(update={"product": product})
    with pytest.raises(MappingError) as caught:
        kr.map(record)
    assert caught.value.field == "product.name"


def test_an_empty_required_list_never_leaves_as_a_document() -> None:
    """The engine renders an empty list as no elements; the schema's minOccurs stops it."""
    record = samples.certificate().model_copy(update={"standards": []})
    with pytest.raises(DocumentError):
        kr.convert(record)


# -- KC coming back --------------------------------------------------------------


def test_a_kc_certificate_in_state_changed_is_valid() -> None:
    record = kr.parse(_kc())
    assert isinstance(record, ProductCertificate)
    assert record.scheme is CertScheme.KC
    assert record.cert_no == "SU071356-12001"
    assert record.status is CertStatus.VALID
    assert record.cert_body.name == "한국산업기술시험원"
    assert record.product.category == "0907"
    assert record.product.models == ["KA-1205", "KA-1210"]
    assert record.product.brands == ["예시전자"]
    assert record.applicant.country == "KR"
    assert record.manufacturer is None
    assert [f.country for f in record.factories] == ["CN"]
    assert record.history[0].status is CertStatus.VALID
    assert record.history[0].reason == "파생모델 추가"


@pytest.mark.parametrize(
    ("code", "label", "status"),
    [
        ("VALID", "적합", "VALID"),
        ("CHANGED", "변경", "VALID"),
        ("SUSPENDED", "일시정지", "SUSPENDED"),
        ("REVOKED", "취소", "WITHDRAWN"),
        ("WITHDRAWN", "안전인증취소", "WITHDRAWN"),
        ("RETURNED", "반납", "CANCELLED"),
        ("EXPIRED", "기간만료", "EXPIRED"),
        ("LAPSED", "안전확인신고 효력상실", "EXPIRED"),
    ],
)
def test_every_kc_state_maps_back_to_canonical(code: str, label: str, status: str) -> None:
    assert kr.parse(_kc(code, label)).status is CertStatus(status)  # type: ignore[union-attr]


def test_a_kc_certificate_goes_out_again_unchanged_in_content() -> None:
    record = kr.parse(_kc("VALID", "적합"))
    assert isinstance(record, ProductCertificate)
    assert kr.parse(kr.convert(record)) == record


def _enumeration(type_name: str) -> set[str]:
    tree = etree.parse(str(schema_path("kr", "ccc-1.0.xsd")))
    path = f"xs:simpleType[@name='{type_name}']/xs:restriction/xs:enumeration"
    return {e.get("value", "") for e in tree.getroot().iterfind(path, XS)}


def test_the_schema_and_the_status_code_lists_agree() -> None:
    assert _enumeration("CertStateCode") == set(CODES["status"].reverse)
    assert set(CODES["status"].forward.values()) <= _enumeration("CertStateCode")
    assert set(CODES["status-label"].forward.values()) <= _enumeration("CertStateLabel")
    assert len(_enumeration("CertStateLabel")) == len(_enumeration("CertStateCode"))


def test_an_unknown_state_code_is_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        kr.parse(_kc("PAUSED", "적합"))
    assert all(LINE_COLUMN.match(m) for m in caught.value.messages)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("<kr:certNum>SU071356-12001</kr:certNum>", ""),
        ("<kr:certNum>SU071356-12001</kr:certNum>", "<kr:certNum>SU-1</kr:certNum>"),
        ('code="KR">대한민국', 'code="Korea">대한민국'),
        ("<kr:certScheme>KC</kr:certScheme>", "<kr:certScheme>EESS</kr:certScheme>"),
        ("<kr:standards><kr:standardNum>KC 60950-1</kr:standardNum></kr:standards>", ""),
        ('<kr:categoryName code="0907">', "<kr:categoryName>"),
    ],
)
def test_the_schema_rejects_a_tampered_document_with_line_and_column(before: str, after: str) -> None:
    data = _kc().decode()
    assert before in data
    with pytest.raises(DocumentError) as caught:
        kr.check_bytes(data.replace(before, after).encode())
    assert caught.value.messages
    assert all(LINE_COLUMN.match(m) for m in caught.value.messages)


def test_a_maker_without_its_country_is_refused() -> None:
    maker = "<kr:makerName>예시</kr:makerName>"
    data = _kc().decode().replace("<kr:factories>", maker + "<kr:factories>")
    with pytest.raises(DocumentError):
        kr.check_bytes(data.encode())


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_a_document_error(name: str) -> None:
    with pytest.raises(DocumentError):
        kr.parse(HOSTILE[name])


# -- property --------------------------------------------------------------------


@st.composite
def certificates(draw: st.DrawFn) -> ProductCertificate:
    scheme = draw(st.sampled_from(["CCC", "KC"]))
    issue = draw(DATES)
    ccc = scheme == "CCC"
    data: dict[str, Any] = {
        "scheme": scheme,
        "certNo": draw(cert_numbers(scheme)),
        "status": draw(st.sampled_from([s.value for s in CertStatus])),
        "certBody": draw(
            st.fixed_dictionaries(
                {"name": text()},
                optional={"code": st.from_regex(r"[0-9]{2}", fullmatch=True), "nameEn": text()},
            )
        ),
        "applicant": draw(party(COUNTRIES)),
        "manufacturer": draw(party(COUNTRIES) if ccc else maybe(party(COUNTRIES))),
        "factories": draw(st.lists(party(COUNTRIES), min_size=1 if ccc else 0, max_size=3)),
        "product": draw(
            st.fixed_dictionaries(
                {
                    "name": text(),
                    "category": st.sampled_from(CATEGORIES),
                    "models": st.lists(text(20), min_size=1, max_size=4),
                },
                optional={
                    "nameEn": text(),
                    "hsCode": st.from_regex(r"[0-9]{6,10}", fullmatch=True),
                    "brands": st.lists(text(20), max_size=3),
                },
            )
        ),
        "standards": draw(st.lists(text(30), min_size=1, max_size=3)),
        "issueDate": issue,
        "expiryDate": draw(maybe(st.just(issue) | DATES.filter(lambda d: d >= issue))),
        "testReports": draw(
            st.lists(
                st.fixed_dictionaries(
                    {"reportNo": text(), "lab": text()}, optional={"labAccreditation": text()}
                ),
                max_size=2,
            )
        ),
        "history": draw(
            st.lists(
                st.fixed_dictionaries(
                    {"date": DATES, "status": st.sampled_from([s.value for s in CertStatus])},
                    optional={"reason": text()},
                ),
                max_size=3,
            )
        ),
    }
    return ProductCertificate.model_validate(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(certificates())
def test_round_trip_holds_for_varied_certificates(record: ProductCertificate) -> None:
    data = kr.convert(record)
    assert kr.check_bytes(data) is Kind.CCC
    assert kr.parse(data) == record
