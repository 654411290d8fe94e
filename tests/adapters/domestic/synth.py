"""Synthetic domestic records for the streaming, memory and speed tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from adapters.domestic.ccc_csv import FACTORY_COUNTRY, HEADER

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
"""The sample exports shipped in the repository (a copy of the domestic contract's samples)."""

CCC: dict[str, Any] = {
    "certNo": "2019010907123456",
    "certStatus": "有效",
    "certBody": {"code": "01", "name": "中国质量认证中心", "nameEn": "CQC"},
    "applicant": {"name": "深圳市示例电子有限公司", "address": "深圳市南山区1号", "country": "CN"},
    "manufacturer": {
        "name": "深圳市示例电子有限公司",
        "address": "深圳市南山区1号",
        "country": "CN",
    },
    "factory": {"name": "东莞示例电子厂", "address": "东莞市长安镇8号", "country": "CN"},
    "product": {
        "name": "电源适配器",
        "nameEn": "Power adapter",
        "category": "0907",
        "models": ["PA-12V-1A", "PA-12V-2A"],
        "hsCode": "850440",
    },
    "standards": ["GB 4943.1-2022", "GB/T 9254.1-2021"],
    "issueDate": "2019-03-01",
    "expiryDate": "2024-03-01",
    "testReports": [{"reportNo": "A2019-0301-01", "lab": "示例实验室", "labAccreditation": "CNAS L0001"}],
    "history": [{"date": "2021-05-06", "status": "有效", "reason": "型号增加"}],
}


def ccc(**changes: Any) -> dict[str, Any]:
    """A valid domestic CCC record with `changes` applied (None deletes a key)."""
    record = copy.deepcopy(CCC)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def numbered(i: int) -> dict[str, Any]:
    record = ccc(certNo=f"2019010907{i % 1_000_000:06d}")
    record["issueDate"] = f"2019/{1 + i % 12}/{1 + i % 28}"  # a small, fixed set of dates
    return record


def write_jsonl(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(count):
            f.write(json.dumps(numbered(i), ensure_ascii=False) + "\n")
    return path


CSV_ROW = [
    "2019010907123456",
    "有效",
    "中国质量认证中心",
    "深圳市示例电子有限公司",
    "广东省深圳市南山区科技园示例路1号",
    "深圳市示例电子有限公司",
    "广东省深圳市南山区科技园示例路1号",
    "东莞示例电子厂",
    "广东省东莞市长安镇示例工业区8号",
    "电源适配器",
    "0907",
    "PA-12V-1A；PA-12V-2A、PA-5V-3A",
    "GB 4943.1-2022;GB/T 9254.1-2021",
    "2019/3/1",
    "2024/3/1",
]


def csv_line(cells: list[str]) -> str:
    return ",".join(f'"{c}"' if "," in c else c for c in cells)


def write_csv(
    path: Path,
    rows: list[list[str]] | None = None,
    *,
    count: int = 0,
    start: int = 0,
    encoding: str = "utf-8",
    country: bool = False,
    newline: str = "\r\n",
) -> Path:
    """A CSV export: the given rows, or `count` generated ones."""
    header = [*HEADER, FACTORY_COUNTRY] if country else list(HEADER)
    with path.open("w", encoding=encoding, newline="") as f:
        f.write(",".join(header) + newline)
        for row in rows or []:
            f.write(csv_line(row) + newline)
        for i in range(start, start + count):
            row = list(CSV_ROW)
            row[0] = f"2019010907{i % 1_000_000:06d}"
            row[13] = f"2019/{1 + i % 12}/{1 + i % 28}"
            f.write(csv_line(row + (["越南"] if country else [])) + newline)
    return path
