"""Date forms and NFKC: the small rules every record depends on."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.domestic.dates import optional_date, parse_date
from adapters.domestic.normalize import code, nfkc, split_multi
from exchange.errors import RecordError

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(
    "text",
    ["2019-03-01", "2019/3/1", "2019/03/01", "2019年03月01日", "2019年3月1日", " 2019-03-01 "],
)
def test_three_forms(text: str) -> None:
    assert parse_date(text, "issueDate") == date(2019, 3, 1)


def test_full_width_date() -> None:
    assert parse_date("２０２１年０１月１２日", "发证日期") == date(2021, 1, 12)


@pytest.mark.parametrize(
    "text", ["2019-13-01", "2019-02-30", "19-03-01", "2019.03.01", "2019-03-01T00:00", "soon"]
)
def test_not_a_date(text: str) -> None:
    with pytest.raises(RecordError) as err:
        parse_date(text, "issueDate")
    assert err.value.field == "issueDate"
    assert "is not a date (expected YYYY-MM-DD, YYYY/M/D or YYYY年MM月DD日)" in err.value.reason


def test_bad_date_reason_reads_well() -> None:
    with pytest.raises(RecordError) as err:
        parse_date("2019-13-01", "issueDate")
    assert err.value.reason == ("2019-13-01 is not a date (expected YYYY-MM-DD, YYYY/M/D or YYYY年MM月DD日)")


def test_blank_date_is_missing() -> None:
    with pytest.raises(RecordError, match="missing"):
        parse_date(" ", "issueDate")


def test_date_of_wrong_type() -> None:
    with pytest.raises(RecordError, match="got int 20190301"):
        parse_date(20190301, "issueDate")


def test_optional_date() -> None:
    assert optional_date(None, "expiryDate") is None
    assert optional_date("  ", "expiryDate") is None
    assert optional_date("2024/3/1", "expiryDate") == date(2024, 3, 1)


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    st.sampled_from(["iso", "slash", "chinese"]),
    st.booleans(),
    st.booleans(),
)
def test_date_forms_round_trip(d: date, form: str, pad: bool, full_width: bool) -> None:
    m, dd = (f"{d.month:02d}", f"{d.day:02d}") if pad else (str(d.month), str(d.day))
    text = {
        "iso": f"{d.year}-{m}-{dd}",
        "slash": f"{d.year}/{m}/{dd}",
        "chinese": f"{d.year}年{m}月{dd}日",
    }[form]
    if full_width:
        text = text.translate(FULL_WIDTH)
    assert parse_date(text, "issueDate") == d


def test_nfkc_codes_not_names() -> None:
    assert code("  ２０１９０１０９０７１２３４５６ ") == "2019010907123456"
    assert code("GB\u30004943.1-2022") == "GB 4943.1-2022"
    assert nfkc("PA-12V") == "PA-12V"


@pytest.mark.parametrize(
    ("cell", "values"),
    [
        ("PA-12V-1A；PA-12V-2A、PA-5V-3A", ["PA-12V-1A", "PA-12V-2A", "PA-5V-3A"]),
        ("GB 4943.1-2022;GB/T 9254.1-2021", ["GB 4943.1-2022", "GB/T 9254.1-2021"]),
        ("A ; ; B；", ["A", "B"]),
        ("ＴＯＹ－Ａ１", ["TOY-A1"]),
        ("", []),
    ],
)
def test_split_multi(cell: str, values: list[str]) -> None:
    assert split_multi(cell) == values


@given(
    st.lists(st.from_regex(r"[A-Z0-9][A-Z0-9 ./-]{0,15}[A-Z0-9]", fullmatch=True), min_size=1),
    st.data(),
)
def test_split_multi_round_trip(values: list[str], data: st.DataObject) -> None:
    seps = data.draw(st.lists(st.sampled_from([";", "；", "、"]), min_size=len(values)))
    cell = "".join(v + s for v, s in zip(values, seps, strict=False))
    assert split_multi(cell) == values
