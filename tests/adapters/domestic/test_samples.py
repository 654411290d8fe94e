"""Every shared sample file goes through intake; invalid sample records are clear rejects."""

from __future__ import annotations

import csv

from adapters.domestic import source
from adapters.domestic.ccc_csv import row_to_certificate
from adapters.domestic.csv_reader import CsvExport
from exchange.errors import Reject
from exchange.intake import Accepted
from exchange.model import CertStatus, GlpStatement, ProductCertificate, PtRound
from tests.adapters.domestic.synth import SAMPLES


def test_ccc_jsonl_sample_all_lines_accepted() -> None:
    items = list(source.read(SAMPLES / "ccc.jsonl"))
    assert [type(i) for i in items] == [Accepted] * 3
    certs = [i.record for i in items if isinstance(i, Accepted)]
    assert all(isinstance(c, ProductCertificate) for c in certs)
    first, second, third = certs
    assert isinstance(first, ProductCertificate)
    assert isinstance(second, ProductCertificate)
    assert isinstance(third, ProductCertificate)
    assert [i.location for i in items] == ["line 1", "line 2", "line 3"]
    assert first.status is CertStatus.VALID
    assert [f.country for f in first.factories] == ["CN"]
    assert second.status is CertStatus.SUSPENDED
    assert second.factories[0].country == "VN"
    assert str(second.issue_date) == "2020-07-15"  # 2020/7/15
    assert third.status is CertStatus.WITHDRAWN
    assert str(third.issue_date) == "2018-11-20"  # 2018年11月20日
    assert third.history[0].status is CertStatus.WITHDRAWN


def test_glp_sample() -> None:
    [item] = list(source.read(SAMPLES / "glp.json"))
    assert isinstance(item, Accepted)
    assert isinstance(item.record, GlpStatement)
    assert item.record.record_id.startswith("CN-20190630-")
    assert item.source == str(SAMPLES / "glp.json")


def test_pt_sample() -> None:
    [item] = list(source.read(SAMPLES / "pt-round.json"))
    assert isinstance(item, Accepted)
    assert isinstance(item.record, PtRound)
    assert item.record.record_id == "TOY-PB-2019-03"
    assert len(item.record.results) == 12
    assert item.record.results[-1].value is None


def test_csv_sample_gb18030_two_rows() -> None:
    first, second = list(source.read(SAMPLES / "ccc-export-gb18030.csv"))
    assert isinstance(first, Accepted)
    cert = first.record
    assert isinstance(cert, ProductCertificate)
    assert first.location == "line 2"
    assert cert.product.models == ["PA-12V-1A", "PA-12V-2A", "PA-5V-3A"]
    assert cert.standards == ["GB 4943.1-2022", "GB/T 9254.1-2021"]
    assert cert.cert_body.code == "01"
    assert cert.factories[0].country == "CN"
    # The second row's number is 15 full-width digits: after NFKC it is still one short
    # of a CCC number's 16, so the contract makes it a reject, named by its number.
    assert isinstance(second, Reject)
    assert second.location == "line 3"
    assert second.field == "证书编号"
    assert second.record_id == "202101120300456"
    assert "15 digits" in second.reason


def test_csv_sample_second_row_is_otherwise_valid() -> None:
    """With its number completed, the full-width second row converts (dates 年月日, 、)."""
    export = CsvExport.open(SAMPLES / "ccc-export-gb18030.csv")
    with (SAMPLES / "ccc-export-gb18030.csv").open(encoding="gb18030", newline="") as f:
        row = list(csv.reader(f))[2]
    row[0] = row[0] + "７"
    cert = row_to_certificate(row, export.index)
    assert cert.cert_no == "2021011203004567"
    assert cert.status is CertStatus.EXPIRED
    assert cert.product.category == "2203"
    assert cert.product.models == ["TOY-A1", "TOY-A2"]
    assert cert.standards == ["GB 6675.1-2014", "GB 6675.2-2014"]
    assert str(cert.issue_date) == "2021-01-12"
    assert cert.applicant.address == "浙江省杭州市余杭区示例路2号, 3楼"
