"""Domestic CCC records: each kind of bad field is a RecordError naming that field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.domestic import source
from exchange.errors import RecordError, Reject
from exchange.intake import Accepted
from exchange.model import CertStatus, Kind, ProductCertificate
from tests.adapters.domestic.synth import CCC, ccc


def parse(record: dict[str, Any]) -> ProductCertificate:
    cert = source.parse_message(json.dumps(record, ensure_ascii=False).encode())
    assert isinstance(cert, ProductCertificate)
    return cert


def error(record: dict[str, Any]) -> RecordError:
    with pytest.raises(RecordError) as err:
        parse(record)
    return err.value


def test_valid_record_maps_to_canonical() -> None:
    cert = parse(CCC)
    assert cert.cert_no == "2019010907123456"
    assert cert.status is CertStatus.VALID
    assert len(cert.factories) == 1
    assert cert.factories[0].name == "东莞示例电子厂"
    assert cert.product.hs_code == "850440"
    assert cert.test_reports[0].lab_accreditation == "CNAS L0001"
    assert cert.history[0].status is CertStatus.VALID


@pytest.mark.parametrize(
    ("domestic", "canonical"),
    [("有效", "VALID"), ("暂停", "SUSPENDED"), ("撤销", "WITHDRAWN"), ("注销", "CANCELLED"),
     ("过期", "EXPIRED")],
)  # fmt: skip
def test_statuses(domestic: str, canonical: str) -> None:
    assert parse(ccc(certStatus=domestic)).status.value == canonical


def test_optional_parts_may_be_missing() -> None:
    record = ccc(testReports=None, history=None, expiryDate=None)
    del record["product"]["hsCode"]
    del record["product"]["nameEn"]
    del record["applicant"]["address"]
    cert = parse(record)
    assert cert.expiry_date is None
    assert cert.history == []


def test_blank_optional_values_read_as_absent() -> None:
    record = ccc(expiryDate="")
    record["product"]["nameEn"] = ""
    record["factory"]["nameEn"] = None
    cert = parse(record)
    assert cert.expiry_date is None
    assert cert.product.name_en is None


def test_full_width_codes_are_normalised_names_are_not() -> None:
    record = ccc(certNo="２０１９０１０９０７１２３４５６", issueDate="２０１９年３月１日")
    record["product"]["category"] = "０９０７"
    record["product"]["models"] = ["ＰＡ－１２Ｖ"]
    record["standards"] = ["GB\u30004943.1-2022"]
    record["applicant"]["name"] = "深圳市示例电子（有限）公司１号"
    cert = parse(record)
    assert cert.cert_no == "2019010907123456"
    assert cert.product.category == "0907"
    assert cert.product.models == ["PA-12V"]
    assert cert.standards == ["GB 4943.1-2022"]
    assert cert.applicant.name == "深圳市示例电子（有限）公司１号"


def test_standards_as_one_string_are_split() -> None:
    assert parse(ccc(standards="GB 4943.1-2022；GB 17625.1-2022")).standards == [
        "GB 4943.1-2022",
        "GB 17625.1-2022",
    ]


def test_bad_date() -> None:
    err = error(ccc(issueDate="2019-13-01"))
    assert (err.field, err.record_id) == ("issueDate", "2019010907123456")
    assert err.reason.startswith("2019-13-01 is not a date (expected YYYY-MM-DD")


def test_bad_history_date_and_status() -> None:
    err = error(ccc(history=[{"date": "2021-05-06", "status": "有效"}, {"date": "昨天"}]))
    assert err.field == "history[1].date"
    err = error(ccc(history=[{"date": "2021-05-06", "status": "作废"}]))
    assert err.field == "history[0].status"


def test_expiry_before_issue() -> None:
    err = error(ccc(expiryDate="2018-01-01"))
    assert err.field == "expiryDate"
    assert "before issueDate 2019-03-01" in err.reason


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("201901090712345", "has 15 digits"),
        ("20190109071234567", "has 17 digits"),
        ("2019010907A23456", "is not a CCC number"),
        ("1819010907123456", "is not a CCC number"),  # year must be 19xx or 20xx
    ],
)
def test_bad_cert_no_structure(number: str, why: str) -> None:
    err = error(ccc(certNo=number))
    assert (err.field, err.record_id) == ("certNo", number)
    assert why in err.reason
    assert "16" in err.reason


def test_unknown_category() -> None:
    record = ccc()
    record["product"]["category"] = "0999"
    err = error(record)
    assert err.field == "product.category"
    assert "0999 is not a CCC catalogue code with a mapping yet" in err.reason


def test_unknown_status() -> None:
    err = error(ccc(certStatus="作废"))
    assert err.field == "certStatus"
    assert "有效, 暂停, 撤销, 注销, 过期" in err.reason


@pytest.mark.parametrize(("part", "value"), [("factory", "XX"), ("applicant", "火星")])
def test_bad_country(part: str, value: str) -> None:
    record = ccc()
    record[part]["country"] = value
    err = error(record)
    assert err.field == f"{part}.country"
    assert value in err.reason


def test_country_by_chinese_name_in_json() -> None:
    record = ccc()
    record["factory"]["country"] = "马来西亚"
    assert parse(record).factories[0].country == "MY"


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        ("certStatus", "certStatus"),
        ("issueDate", "issueDate"),
        ("factory", "factory"),
        ("manufacturer", "manufacturer"),
        ("standards", "standards"),
        ("certBody", "certBody"),
    ],
)
def test_missing_required_field(remove: str, field: str) -> None:
    err = error(ccc(**{remove: None}))
    assert err.field == field
    assert "missing" in err.reason


def test_missing_cert_no_has_no_record_id() -> None:
    err = error(ccc(certNo="   "))
    assert (err.field, err.record_id) == ("certNo", None)


def test_missing_nested_field_named_in_domestic_terms() -> None:
    record = ccc()
    del record["factory"]["name"]
    err = error(record)
    assert err.field == "factory.name"  # not factories[0].name


def test_wrong_types() -> None:
    assert error(ccc(certNo=2019010907123456)).field == "certNo"
    assert error(ccc(applicant="深圳")).field == "applicant"
    record = ccc()
    record["product"]["models"] = ["PA-1", 12]
    err = error(record)
    assert err.field == "product.models[1]"
    assert "valid string" in err.reason
    record = ccc()
    record["product"]["hsCode"] = 850440
    assert error(record).field == "product.hsCode"
    assert error(ccc(issueDate=20190301)).field == "issueDate"


def test_unknown_field_refused() -> None:
    assert error(ccc(certNumber="x")).field == "certNumber"
    record = ccc()
    record["product"]["colour"] = "red"
    err = error(record)
    assert err.field == "product.colour"


def test_several_problems_listed_in_one_reason() -> None:
    record = ccc()
    record["applicant"]["name"] = ""
    record["product"]["models"] = []
    err = error(record)
    assert err.field == "applicant.name"
    assert "also product.models" in err.reason


def test_kind_given_overrides_detection() -> None:
    body = json.dumps(ccc()).encode()
    with pytest.raises(RecordError) as err:
        source.parse_message(body, kind=Kind.GLP)
    assert err.value.field == "certNo"  # not a GLP field


def test_reject_from_file_names_source_line_record_field(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    lines = [ccc(), ccc(certNo="2019010907000002", issueDate="2019/2/30"), ccc()]
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")
    items = list(source.read(path))
    assert [type(i) for i in items] == [Accepted, Reject, Accepted]
    reject = items[1]
    assert isinstance(reject, Reject)
    assert reject == Reject(
        source=str(path),
        location="line 2",
        record_id="2019010907000002",
        field="issueDate",
        reason="2019/2/30 is not a date (expected YYYY-MM-DD, YYYY/M/D or YYYY年MM月DD日)",
    )


def test_huge_bad_value_is_not_echoed_whole() -> None:
    err = error(ccc(certNo="9" * 100_000))
    assert err.record_id is None
    assert len(err.reason) < 200
