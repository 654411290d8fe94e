"""The canonical PT model: reported scores load by their JSON names, nothing else does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from exchange.model.pt import PtResult, PtRound
from tests.pt.rounds import sample_dict


def test_reported_scores_load_by_their_json_names() -> None:
    r = PtResult.model_validate({"lab": "L01", "value": 1.0, "z": 1.2, "zPrime": 1.1, "zeta": 2.5, "En": 0.4})
    assert (r.z, r.z_prime, r.zeta, r.en) == (1.2, 1.1, 2.5, 0.4)
    assert r.model_dump(by_alias=True)["zPrime"] == 1.1
    assert r.model_dump(by_alias=True)["En"] == 0.4


def test_reported_scores_are_optional() -> None:
    r = PtResult.model_validate({"lab": "L01", "value": 1.0})
    assert (r.z, r.z_prime, r.zeta, r.en) == (None, None, None, None)


def test_reported_scores_must_be_finite() -> None:
    with pytest.raises(ValidationError) as caught:
        PtResult.model_validate({"lab": "L01", "value": 1.0, "En": float("inf")})
    assert caught.value.errors()[0]["loc"] == ("En",)


def test_unknown_keys_are_still_refused() -> None:
    data = sample_dict()
    data["results"][0]["zScore"] = 1.0
    with pytest.raises(ValidationError) as caught:
        PtRound.model_validate(data)
    error = caught.value.errors()[0]
    assert error["loc"] == ("results", 0, "zScore")
    assert error["type"] == "extra_forbidden"


@pytest.mark.parametrize(("key", "value"), [("k", 0), ("k", -2), ("u", 0), ("U", -1.0)])
def test_uncertainty_inputs_must_be_positive(key: str, value: float) -> None:
    data = sample_dict()
    data["results"][0][key] = value
    with pytest.raises(ValidationError) as caught:
        PtRound.model_validate(data)
    assert caught.value.errors()[0]["loc"] == ("results", 0, key)
