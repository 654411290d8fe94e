"""The CCC CSV export: its Chinese header, and one row as a domestic CCC record.

Rows are turned into the JSON shape and converted by ccc.py, so both formats share
one set of rules; errors are then renamed from JSON paths to the CSV's own headers.
"""

from __future__ import annotations

import re
from typing import Any

from adapters.domestic.ccc import to_certificate
from adapters.domestic.normalize import code
from exchange.errors import RecordError
from exchange.model import ProductCertificate
from exchange.model.certificate import CCC_NUMBER

HEADER = (
    "证书编号",
    "证书状态",
    "认证机构",
    "委托人名称",
    "委托人地址",
    "生产者名称",
    "生产者地址",
    "生产企业名称",
    "生产企业地址",
    "产品名称",
    "产品类别",
    "型号规格",
    "产品标准",
    "发证日期",
    "有效期至",
)
FACTORY_COUNTRY = "生产企业所在国"
"""Optional trailing column: ISO code or Chinese country name; absent or empty means CN."""

DEFAULT_COUNTRY = "CN"
"""The export has no country columns for applicant and manufacturer, and its factory
country defaults to CN (domestic-formats.md); applicant and manufacturer get CN too,
being parties to a domestic registration with no other country given."""

_COLUMN_OF_FIELD = {
    "certNo": "证书编号",
    "certStatus": "证书状态",
    "certBody": "认证机构",
    "certBody.name": "认证机构",
    "applicant.name": "委托人名称",
    "applicant.address": "委托人地址",
    "manufacturer.name": "生产者名称",
    "manufacturer.address": "生产者地址",
    "factory.name": "生产企业名称",
    "factory.address": "生产企业地址",
    "factory.country": FACTORY_COUNTRY,
    "product.name": "产品名称",
    "product.category": "产品类别",
    "product.models": "型号规格",
    "standards": "产品标准",
    "issueDate": "发证日期",
    "expiryDate": "有效期至",
}
_INDEXED = re.compile(r"^(?P<path>[^\[]+)\[(?P<i>\d+)\]$")


def column_of(field: str | None, reason: str) -> tuple[str | None, str]:
    """The CSV header for a JSON field path, and the reason (naming the value of a list)."""
    if field is None:
        return None, reason
    if field in _COLUMN_OF_FIELD:
        return _COLUMN_OF_FIELD[field], reason
    m = _INDEXED.match(field)
    if m and m["path"] in _COLUMN_OF_FIELD:
        return _COLUMN_OF_FIELD[m["path"]], f"value {int(m['i']) + 1}: {reason}"
    return field, reason


def _party(name: str, address: str, country: str = DEFAULT_COUNTRY) -> dict[str, str]:
    return {"name": name, "address": address, "country": country}


def row_to_certificate(row: list[str], index: dict[str, int]) -> ProductCertificate:
    """The certificate in one CSV row (already checked to have every column)."""
    record = row_to_record(row, index)
    try:
        return to_certificate(record)
    except RecordError as exc:
        column, reason = column_of(exc.field, exc.reason)
        raise RecordError(reason, field=column, record_id=exc.record_id) from None


def row_to_record(row: list[str], index: dict[str, int]) -> dict[str, Any]:
    """One CSV row in the JSON shape of the contract: CSV and JSON share one set of rules."""

    def cell(name: str) -> str:
        i = index.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    number = code(cell("证书编号"))
    body: dict[str, str] = {"name": cell("认证机构")}
    if CCC_NUMBER.match(number):
        body["code"] = number[4:6]  # the body code is part of the number's structure
    record = {
        "certNo": cell("证书编号"),
        "certStatus": cell("证书状态"),
        "certBody": body,
        "applicant": _party(cell("委托人名称"), cell("委托人地址")),
        "manufacturer": _party(cell("生产者名称"), cell("生产者地址")),
        "factory": _party(
            cell("生产企业名称"),
            cell("生产企业地址"),
            cell(FACTORY_COUNTRY) or DEFAULT_COUNTRY,
        ),
        "product": {
            "name": cell("产品名称"),
            "category": cell("产品类别"),
            "models": cell("型号规格"),
        },
        "standards": cell("产品标准"),
        "issueDate": cell("发证日期"),
        "expiryDate": cell("有效期至"),
    }
    return record
