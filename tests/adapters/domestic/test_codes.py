"""The code lists are data with a fixed shape that other modules read too."""

from __future__ import annotations

import tomllib

from adapters.domestic.codes import category, cert_status, code_lists, country
from exchange.model import CertStatus
from exchange.resources import mapping_path

CODES = [
    "0701",
    "0702",
    "0703",
    "0705",
    "0717",
    "0718",
    "0901",
    "0902",
    "0903",
    "0907",
    "1001",
    "1606",
    "2202",
    "2203",
]


def test_categories_toml_shape() -> None:
    with mapping_path("domestic", "categories.toml").open("rb") as f:
        data = tomllib.load(f)
    assert set(data) == {"categories"}
    assert sorted(data["categories"]) == sorted(CODES)
    for code, entry in data["categories"].items():
        assert set(entry) == {"name", "sector"}, code
        expected = "non-ee" if code == "2203" else "ee"  # 2202 electric toys: a choice, E&E
        assert entry["sector"] == expected, code


def test_category_lookup_normalises() -> None:
    found = category("０９０７")
    assert found is not None
    assert (found.code, found.sector) == ("0907", "ee")
    assert category("0999") is None


def test_status() -> None:
    assert {k: v.value for k, v in code_lists().status.items()} == {
        "有效": "VALID",
        "暂停": "SUSPENDED",
        "撤销": "WITHDRAWN",
        "注销": "CANCELLED",
        "过期": "EXPIRED",
    }
    assert cert_status(" 过期 ") is CertStatus.EXPIRED
    assert cert_status("VALID") is None


def test_countries() -> None:
    required = {
        "越南": "VN", "马来西亚": "MY", "泰国": "TH", "印度尼西亚": "ID", "菲律宾": "PH",
        "柬埔寨": "KH", "缅甸": "MM", "老挝": "LA", "新加坡": "SG", "印度": "IN",
        "孟加拉国": "BD", "巴基斯坦": "PK", "中国": "CN", "日本": "JP", "韩国": "KR",
        "墨西哥": "MX", "美国": "US", "德国": "DE", "土耳其": "TR",
    }  # fmt: skip
    for name, iso in required.items():
        assert country(name) == iso
    assert country("vn") == "VN"
    assert country("ＭＹ") == "MY"
    assert country("XX") is None
    assert country("台湾") is None  # left out on purpose: give the ISO code instead


def test_exact_tables_agree_with_the_normalising_lookups() -> None:
    """The fast paths (a hit in an exact table) give what normalising first would give."""
    from exchange.model import ISO_ALPHA2

    lists = code_lists()
    for text, status in lists.exact_status.items():
        assert lists.status.get(text.strip()) is status
    for text, entry in lists.exact_categories.items():
        assert lists.categories[text] is entry
    for text, iso in lists.exact_countries.items():
        value = text.strip()
        assert (value.upper() if value.upper() in ISO_ALPHA2 else lists.countries.get(value)) == iso
    # every name is still found, however it is padded; codes in any case or width
    for name, iso in lists.countries.items():
        assert country(name) == country(f" {name}\u3000") == iso, name
    assert country(" cn ") == country("ｃｎ") == "CN"
    assert category(" ０９０７ ") is lists.categories["0907"]
    assert cert_status(" 有效 ") is cert_status("有效") is CertStatus.VALID
