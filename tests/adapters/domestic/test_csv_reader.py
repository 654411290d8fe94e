"""The CCC CSV export: encodings, header, Chinese field names, country column."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.domestic import CsvHeaderError, EncodingError, UnreadableInput, source
from adapters.domestic.ccc_csv import FACTORY_COUNTRY, HEADER
from adapters.domestic.limits import MAX_RECORD_BYTES
from exchange.errors import Reject
from exchange.intake import Accepted, IntakeItem
from exchange.model import Kind, ProductCertificate
from tests.adapters.domestic.synth import CSV_ROW, SAMPLES, write_csv


def read(path: Path, **kw: object) -> list[IntakeItem]:
    return list(source.read(path, **kw))  # type: ignore[arg-type]


def cert(item: IntakeItem) -> ProductCertificate:
    assert isinstance(item, Accepted), item
    assert isinstance(item.record, ProductCertificate)
    return item.record


def row(**cells: str) -> list[str]:
    out = list(CSV_ROW)
    for name, value in cells.items():
        out[HEADER.index(name)] = value
    return out


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_encodings_detected(tmp_path: Path, encoding: str, newline: str) -> None:
    path = write_csv(tmp_path / "x.csv", [row()], encoding=encoding, newline=newline)
    [item] = read(path)
    found = cert(item)
    assert found.applicant.name == "深圳市示例电子有限公司"
    assert found.product.models == ["PA-12V-1A", "PA-12V-2A", "PA-5V-3A"]
    assert found.issue_date.isoformat() == "2019-03-01"


def test_gb18030_forced_as_utf8_is_a_clear_error() -> None:
    with pytest.raises(EncodingError) as err:
        source.read(SAMPLES / "ccc-export-gb18030.csv", encoding="utf-8")
    assert "cannot be decoded as utf-8" in str(err.value)
    assert "looks like gb18030" in str(err.value)


def test_forced_gb18030_reads_sample() -> None:
    items = read(SAMPLES / "ccc-export-gb18030.csv", encoding="GB18030")
    assert [type(i) for i in items] == [Accepted, Reject]


def test_utf8_with_bom_forced(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [row()], encoding="utf-8-sig")
    [item] = read(path, encoding="utf-8")
    cert(item)


def test_latin1_garbage_is_a_reject_of_its_line_only(tmp_path: Path) -> None:
    """Issue 13, finding 7: one bad line used to stop the file; now it is that line's reject."""
    path = tmp_path / "x.csv"
    good = (SAMPLES / "ccc-export-gb18030.csv").read_bytes().splitlines()[1]
    path.write_bytes(
        ",".join(HEADER).encode("gb18030") + b"\r\n" + b"\xff\xfe\xfa caf\xe9\r\n" + good + b"\r\n"
    )
    first, second = read(path)
    assert isinstance(first, Reject) and first.location == "line 2"
    assert "line 2 cannot be decoded as gb18030" in first.reason
    assert isinstance(second, Accepted)


def test_header_in_latin1_is_neither(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"\x80\xff\xfe\xfd,caf\xe9\r\n")
    with pytest.raises(EncodingError, match="neither UTF-8 nor GB18030"):
        source.read(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"")
    with pytest.raises(CsvHeaderError, match="empty file"):
        source.read(path)


def test_header_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(",".join(HEADER[:-2]) + ",颜色\n", encoding="utf-8")
    with pytest.raises(CsvHeaderError) as err:
        source.read(path)
    assert "missing 发证日期, 有效期至" in str(err.value)
    assert "unknown '颜色'" in str(err.value)


def test_header_in_other_order_is_fine(tmp_path: Path) -> None:
    header = list(reversed(HEADER))
    path = tmp_path / "x.csv"
    path.write_text(",".join(header) + "\n" + ",".join(reversed(row())) + "\n", encoding="utf-8")
    cert(read(path)[0])


def test_only_ccc(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [row()])
    with pytest.raises(UnreadableInput, match="CCC certificates only"):
        source.read(path, kind=Kind.GLP)
    assert len(read(path, kind=Kind.CCC)) == 1


def test_rows_with_missing_or_extra_values(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        ",".join(HEADER) + "\n" + ",".join(row()[:13]) + "\n" + ",".join([*row(), "x"]) + "\n",
        encoding="utf-8",
    )
    first, second = read(path)
    assert isinstance(first, Reject)
    assert (first.location, first.record_id) == ("line 2", "2019010907123456")
    assert first.reason == "the row has 13 values; the header has 15 columns"
    assert isinstance(second, Reject)
    assert second.location == "line 3"


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("发证日期", "2019-13-01", "2019-13-01 is not a date"),
        ("证书状态", "作废", "is not a CCC status"),
        ("产品类别", "9999", "9999 is not a CCC catalogue code"),
        ("证书编号", "2019-0109-0712", "is not a CCC number"),
        ("委托人名称", "", "missing or empty"),
        ("有效期至", "2018/1/1", "before issueDate"),
    ],
)
def test_field_errors_name_the_chinese_column(tmp_path: Path, column: str, value: str, reason: str) -> None:
    path = write_csv(tmp_path / "x.csv", [row(), row(**{column: value}), row()])
    items = read(path)
    assert [type(i) for i in items] == [Accepted, Reject, Accepted]
    reject = items[1]
    assert isinstance(reject, Reject)
    assert (reject.location, reject.field) == ("line 3", column)
    assert reason in reject.reason


def test_model_error_in_one_of_several_values(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [row(型号规格="A；" + "B" * 300)])
    [reject] = read(path)
    assert isinstance(reject, Reject)
    assert reject.field == "型号规格"
    assert reject.reason.startswith("value 2: String should have at most 200 characters")


@pytest.mark.parametrize(
    ("value", "iso"), [("越南", "VN"), ("MY", "MY"), ("ｔｈ", "TH"), ("", "CN"), ("中国", "CN")]
)
def test_factory_country_column(tmp_path: Path, value: str, iso: str) -> None:
    path = write_csv(tmp_path / "x.csv", [[*row(), value]], country=True)
    found = cert(read(path)[0])
    assert found.factories[0].country == iso
    assert found.applicant.country == "CN"


def test_factory_country_column_absent_in_a_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [row()], country=True)
    assert cert(read(path)[0]).factories[0].country == "CN"


def test_bad_factory_country(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [[*row(), "火星"]], country=True)
    [reject] = read(path)
    assert isinstance(reject, Reject)
    assert reject.field == FACTORY_COUNTRY
    assert reject.reason == "火星 is not an ISO 3166-1 alpha-2 code or a known country name"


def test_quoted_fields_and_multiline_record_numbering(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    multiline = row(委托人地址='"浙江省杭州市\n余杭区, 2号"')
    text = ",".join(HEADER) + "\r\n" + ",".join(multiline) + "\r\n" + ",".join(row(发证日期="x"))
    path.write_text(text + "\r\n", encoding="utf-8")
    first, second = read(path)
    assert cert(first).applicant.address == "浙江省杭州市\n余杭区, 2号"
    assert isinstance(second, Reject)
    assert second.location == "line 3"  # the third record, though the fourth physical line


def test_blank_lines_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(",".join(HEADER) + "\n\n" + ",".join(row(发证日期="x")) + "\n", encoding="utf-8")
    [reject] = read(path)
    assert isinstance(reject, Reject)
    assert reject.location == "line 3"


def test_over_long_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADER) + "\r\n")
        f.write("1" * (MAX_RECORD_BYTES + 5) + "\r\n")
        f.write(",".join(row()) + "\r\n")
    first, second = read(path)
    assert isinstance(first, Reject)
    assert first.location == "line 2"
    assert "longer than 4 MiB" in first.reason
    cert(second)


def test_unclosed_quote_cannot_swallow_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADER) + "\r\n")
        f.write('"unclosed,' + "\r\n")
        for _ in range(40_000):
            f.write("x" * 200 + "\r\n")
    items = read(path)
    assert isinstance(items[0], Reject)
    assert items[0].location == "line 2"
