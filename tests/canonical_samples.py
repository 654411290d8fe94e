"""Canonical records for tests, built directly (independent of any intake adapter)."""

from __future__ import annotations

from datetime import date
from typing import Any

from exchange.model import GlpStatement, ProductCertificate, PtRound


def certificate_data(category: str = "0907", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "scheme": "CCC",
        "certNo": "2019010907123456",
        "status": "VALID",
        "certBody": {
            "code": "01",
            "name": "中国质量认证中心",
            "nameEn": "China Quality Certification Centre",
        },
        "applicant": {
            "name": "深圳市示例电子有限公司",
            "nameEn": "Shenzhen Example Electronics Co., Ltd.",
            "address": "广东省深圳市南山区科技园示例路1号",
            "country": "CN",
        },
        "manufacturer": {"name": "深圳市示例电子有限公司", "address": "广东省深圳市南山区", "country": "CN"},
        "factories": [
            {"name": "EXAMPLE FACTORY (VIETNAM) CO., LTD.", "address": "Bac Ninh", "country": "VN"}
        ],
        "product": {
            "name": "电源适配器",
            "nameEn": "Power adapter",
            "category": category,
            "models": ["PA-12V-1A", "PA-12V-2A"],
            "hsCode": "850440",
        },
        "standards": ["GB 4943.1-2022", "GB/T 9254.1-2021"],
        "issueDate": date(2019, 3, 1),
        "expiryDate": date(2024, 3, 1),
        "testReports": [{"reportNo": "A2019-0301-01", "lab": "示例实验室", "labAccreditation": "CNAS L0001"}],
        "history": [{"date": date(2021, 5, 6), "status": "VALID", "reason": "型号增加"}],
    }
    data.update(overrides)
    return data


def certificate(category: str = "0907", **overrides: Any) -> ProductCertificate:
    return ProductCertificate.model_validate(certificate_data(category, **overrides))


def glp_statement(**overrides: Any) -> GlpStatement:
    data: dict[str, Any] = {
        "facility": {
            "name": "上海示例化学品安全评价中心",
            "nameEn": "Shanghai Example Chemical Safety Evaluation Centre",
            "address": "上海市浦东新区示例路100号",
            "country": "CN",
        },
        "authority": "CNCA",
        "inspections": [{"date": date(2019, 5, 20), "endDate": date(2019, 5, 23), "type": "FULL"}],
        "areas": [1, 2, 9],
        "otherArea": "Nanomaterial characterisation",
        "status": "IC",
        "studyAudits": [{"studyId": "S-2019-017", "requestedBy": "EU"}],
        "statementDate": date(2019, 6, 30),
    }
    data.update(overrides)
    return GlpStatement.model_validate(data)


def pt_round_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "provider": {
            "name": "示例能力验证提供者",
            "nameEn": "Example PT Provider",
            "accreditation": "CNAS PT0001",
        },
        "scheme": "FOOD-HG",
        "round": "2019-02",
        "matrix": "animal feed",
        "measurand": "mercury",
        "unit": "mg/kg",
        "assigned": {"method": "reference", "value": 0.044, "U": 0.0082, "k": 2},
        "sigmaPt": {"method": "fixed", "value": 0.0066},
        "results": [
            {"lab": "L01", "value": 0.053, "U": 0.007, "k": 2},
            {"lab": "L02", "value": 0.041, "u": 0.004},
            {"lab": "L03", "value": 0.061},
            {"lab": "L04", "value": 0.013, "U": 0.003, "k": 2},
            {"lab": "L05", "value": None, "remark": "<LOQ"},
        ],
    }
    data.update(overrides)
    return data


def pt_round(**overrides: Any) -> PtRound:
    return PtRound.model_validate(pt_round_data(**overrides))


def scored_pt_round(**overrides: Any) -> PtRound:
    from exchange.pt import score_round

    return score_round(pt_round(**overrides))
