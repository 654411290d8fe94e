"""Records with every optional canonical field filled, and the loss check the behaviour
suite applies: what a round trip through a partner's document does not give back, less
what the partner's manifest says it does not carry."""

from __future__ import annotations

import re
from typing import Any

from exchange.intake import CanonicalRecord
from exchange.model import GlpStatement, Kind, ProductCertificate, PtRound
from exchange.partner import PartnerFormat
from exchange.pt import score_round
from tests import canonical_samples as samples


def full_certificate(**overrides: Any) -> ProductCertificate:
    data = samples.certificate_data()
    data["manufacturer"] = {**data["manufacturer"], "nameEn": "Shenzhen Example Electronics Co., Ltd."}
    data["factories"] = [{**f, "nameEn": "Example Factory (Vietnam)"} for f in data["factories"]]
    data["product"] = {**data["product"], "brands": ["EXAMPLE", "示例"]}
    data["responsibleSupplier"] = {
        "name": "Example Imports NZ Ltd",
        "address": "1 Queen Street, Auckland",
        "country": "NZ",
        "supplierNumber": "S123456",
        "taxId": "123-456-789",
    }
    data.update(overrides)
    return ProductCertificate.model_validate(data)


def full_glp_statement(**overrides: Any) -> GlpStatement:
    return samples.glp_statement(**overrides)


def full_pt_round() -> PtRound:
    """Consensus value and robust sigma (Algorithm A), a participant's own scores, and
    results scoring acceptable, warning and action."""
    data = samples.pt_round_data(
        assigned={"method": "consensus"},
        sigmaPt={"method": "robust"},
        results=[
            {"lab": "L01", "value": 0.053, "U": 0.007, "k": 2},
            {"lab": "L02", "value": 0.041, "u": 0.004},
            {"lab": "L03", "value": 0.061},
            {"lab": "L04", "value": 0.013, "U": 0.003, "k": 2},
            {"lab": "L06", "value": 0.047},
            {"lab": "L07", "value": 0.044},
            {"lab": "L05", "value": None, "remark": "<LOQ"},
        ],
    )
    first = score_round(PtRound.model_validate(data)).scoring
    assert first is not None
    ours = first.results[0]
    reported = {"z": ours.z, "zPrime": ours.z_prime, "zeta": ours.zeta, "En": ours.en}
    data["results"][0].update({k: round(v, 2) for k, v in reported.items() if v is not None})
    return score_round(PtRound.model_validate(data))


def full_sample(kind: Kind) -> CanonicalRecord:
    if kind is Kind.CCC:
        return full_certificate()
    if kind is Kind.GLP:
        return full_glp_statement()
    return full_pt_round()


def _flat(value: Any, path: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(item, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flat(item, f"{path}[{index}]", out)
    else:
        out[path] = value
    return out


def _declared(path: str, not_carried: frozenset[str]) -> bool:
    """`results[3].k` is covered by `results[].k`, `results` or `results[]`."""
    generic = re.sub(r"\[\d+\]", "[]", path)
    for declared in not_carried:
        for candidate in (path, generic):
            if candidate == declared or candidate.startswith((declared + ".", declared + "[")):
                return True
    return False


def lost_fields(fmt: PartnerFormat, record: CanonicalRecord) -> dict[str, tuple[Any, Any]]:
    """Field -> (sent, read back) for every canonical value the round trip changed or
    dropped that the format does not declare in `not_carried`."""
    back = fmt.parse(fmt.convert(record))
    sent = _flat(record.model_dump(mode="json", exclude_none=True), "", {})
    got = _flat(back.model_dump(mode="json", exclude_none=True), "", {})
    declared = fmt.not_carried.get(record.kind, frozenset())
    return {
        path: (sent.get(path), got.get(path))
        for path in sorted(sent.keys() | got.keys())
        if sent.get(path) != got.get(path) and not _declared(path, declared)
    }
