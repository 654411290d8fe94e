"""Small PT rounds in the domestic JSON shape, for the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exchange.model.pt import PtRound

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "pt-round.json"


def round_dict(
    results: list[dict[str, Any]],
    *,
    assigned: dict[str, Any] | None = None,
    sigma: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "provider": {"name": "Test PT provider", "accreditation": "CNAS PT0001"},
        "scheme": "TEST",
        "round": "2024-01",
        "matrix": "water",
        "measurand": "lead",
        "unit": "mg/kg",
        "assigned": assigned or {"method": "consensus"},
        "sigmaPt": sigma or {"method": "fixed", "value": 1.0},
        "results": results,
    }


def make_round(
    values: list[float | None],
    *,
    assigned: dict[str, Any] | None = None,
    sigma: dict[str, Any] | None = None,
    u: float | None = None,
) -> PtRound:
    """A round with labs L01, L02, … reporting `values` (None = censored "<LOQ")."""
    results: list[dict[str, Any]] = []
    for n, v in enumerate(values, start=1):
        r: dict[str, Any] = {"lab": f"L{n:02d}", "value": v}
        if v is None:
            r["remark"] = "<LOQ"
        elif u is not None:
            r["u"] = u
        results.append(r)
    return PtRound.model_validate(round_dict(results, assigned=assigned, sigma=sigma))


def sample_dict() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return data
