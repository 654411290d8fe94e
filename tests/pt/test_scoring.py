"""score_round: a whole round scored, its failure modes, and reported scores checked."""

from __future__ import annotations

import math
from typing import Any

import pytest

from exchange.errors import RecordError
from exchange.model.pt import PtRound, SigmaMethod, SigmaPt, Signal
from exchange.pt import PtError, algorithm_a, score_round, u_consensus
from exchange.pt.scoring import CENSORED_NOTE, NO_UNCERTAINTY_NOTE
from tests.pt.rounds import make_round, round_dict, sample_dict
from tests.pt.test_robust import ISO_13528_E3

# domestic-formats.md's example round (mercury in animal feed), worked by hand
# in test_scores.py.
REFERENCE = {"method": "reference", "value": 0.044, "U": 0.0082, "k": 2}
FIXED = {"method": "fixed", "value": 0.0066}
MERCURY = [
    {"lab": "L01", "value": 0.053, "U": 0.007, "k": 2},
    {"lab": "L04", "value": 0.013, "U": 0.003, "k": 2},
]


def mercury(**reported: Any) -> PtRound:
    results = [dict(r) for r in MERCURY]
    results[0].update(reported)
    return PtRound.model_validate(round_dict(results, assigned=REFERENCE, sigma=FIXED))


def scoring_of(round: PtRound) -> dict[str, Any]:
    scored = score_round(round)
    assert scored.scoring is not None
    out: dict[str, Any] = scored.scoring.model_dump(mode="json", by_alias=True)
    return out


def by_lab(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["lab"]: r for r in out["results"]}


# --- a whole round -----------------------------------------------------------------


def test_sample_round_consensus_with_censored_result() -> None:
    round = PtRound.model_validate(sample_dict())
    out = scoring_of(round)
    values = [r.value for r in round.results if r.value is not None]
    algo = algorithm_a(values)
    assert out["participants"] == 11
    assert out["algorithmA"] == {"mean": algo.mean, "sd": algo.sd, "iterations": algo.iterations}
    assert out["assigned"] == {
        "value": algo.mean,
        "u": pytest.approx(u_consensus(algo.sd, 11)),
        "method": "consensus",
        "uNegligible": True,  # 1.25·2.37/√11 = 0.894 < 0.3·4.0
    }
    assert out["sigmaPt"] == {"value": 4.0, "method": "fixed"}
    labs = by_lab(out)
    assert [r["lab"] for r in out["results"]] == [r.lab for r in round.results]
    assert labs["L06"]["signals"] == {
        "z": "action",
        "zPrime": None,
        "zeta": "action",
        "En": "action",
    }
    assert labs["L10"]["signals"]["z"] == "action"
    assert labs["L01"]["z"] == pytest.approx((88.1 - algo.mean) / 4.0)
    assert all(r["zPrime"] is None for r in out["results"])  # u(x_pt) negligible
    assert labs["L12"] == {
        "lab": "L12",
        "value": None,
        "z": None,
        "zPrime": None,
        "zeta": None,
        "En": None,
        "signals": {"z": None, "zPrime": None, "zeta": None, "En": None},
        "remark": f"<LOQ; {CENSORED_NOTE}",
    }


def test_output_has_exactly_the_documented_keys() -> None:
    out = scoring_of(PtRound.model_validate(sample_dict()))
    assert set(out) == {"assigned", "sigmaPt", "algorithmA", "participants", "results"}
    assert set(out["assigned"]) == {"value", "u", "method", "uNegligible"}
    assert set(out["sigmaPt"]) == {"value", "method"}
    assert set(out["algorithmA"]) == {"mean", "sd", "iterations"}
    for r in out["results"]:
        assert set(r) == {"lab", "value", "z", "zPrime", "zeta", "En", "signals", "remark"}
        assert set(r["signals"]) == {"z", "zPrime", "zeta", "En"}


def test_score_round_returns_a_copy_and_keeps_the_round() -> None:
    round = PtRound.model_validate(sample_dict())
    scored = score_round(round)
    assert round.scoring is None
    assert scored.scoring is not None
    assert scored.model_dump(exclude={"scoring"}) == round.model_dump(exclude={"scoring"})


def test_published_example_as_a_consensus_round() -> None:
    out = scoring_of(make_round(list(ISO_13528_E3), sigma={"method": "robust"}))
    assert round(out["assigned"]["value"], 3) == 1.453
    assert out["sigmaPt"] == {"value": out["algorithmA"]["sd"], "method": "robust"}
    # u(x_pt) = 1.25·s*/√p, and with σ_pt = s* that is 1.25/√12 = 0.36 of σ_pt.
    assert out["assigned"]["u"] == pytest.approx(1.25 * out["algorithmA"]["sd"] / math.sqrt(12))
    assert out["assigned"]["uNegligible"] is False
    assert all(r["zPrime"] is not None for r in out["results"])


def test_reference_value_and_fixed_sigma() -> None:
    out = scoring_of(mercury())
    assert out["algorithmA"] is None
    assert out["participants"] == 2
    assert out["assigned"] == {
        "value": 0.044,
        "u": 0.0041,
        "method": "reference",
        "uNegligible": False,
    }
    l01, l04 = by_lab(out)["L01"], by_lab(out)["L04"]
    assert l01["z"] == pytest.approx(1.363636, abs=1e-6)
    assert l01["zPrime"] == pytest.approx(1.158329, abs=1e-6)  # shown: u(x_pt) not negligible
    assert l01["zeta"] == pytest.approx(1.669532, abs=1e-6)
    assert l01["En"] == pytest.approx(0.834766, abs=1e-6)
    assert l01["signals"] == {
        "z": "acceptable",
        "zPrime": "acceptable",
        "zeta": "acceptable",
        "En": "acceptable",
    }
    assert l04["signals"] == {"z": "action", "zPrime": "action", "zeta": "action", "En": "action"}


def test_result_with_u_only_and_result_without_uncertainty() -> None:
    results = [
        {"lab": "A", "value": 10.4, "u": 0.15},
        {"lab": "B", "value": 10.4},
        {"lab": "C", "value": 10.4, "U": 0.45, "k": 3, "remark": "late"},
    ]
    assigned = {"method": "formulation", "value": 10.0, "u": 0.2}
    round = PtRound.model_validate(round_dict(results, assigned=assigned))
    labs = by_lab(scoring_of(round))
    # ζ = 0.4 / √(0.15² + 0.2²) = 1.6; En = 0.4 / √(0.3² + 0.4²) = 0.8 (U = 2u).
    assert labs["A"]["zeta"] == pytest.approx(1.6)
    assert labs["A"]["En"] == pytest.approx(0.8)
    assert labs["A"]["remark"] is None
    assert labs["B"]["zeta"] is None and labs["B"]["En"] is None
    assert labs["B"]["signals"]["zeta"] is None and labs["B"]["signals"]["En"] is None
    assert labs["B"]["z"] == pytest.approx(0.4)
    assert labs["B"]["remark"] == NO_UNCERTAINTY_NOTE
    # U = 0.45 with k = 3 is u = 0.15: the same scores as A, the remark kept.
    assert labs["C"]["zeta"] == pytest.approx(1.6)
    assert labs["C"]["En"] == pytest.approx(0.8)
    assert labs["C"]["remark"] == "late"


def test_assigned_value_without_uncertainty_gets_only_z() -> None:
    round = make_round([1.0, 2.0], assigned={"method": "reference", "value": 1.5}, u=0.1)
    out = scoring_of(round)
    assert out["assigned"]["u"] is None
    assert out["assigned"]["uNegligible"] is None
    for r in out["results"]:
        assert r["z"] is not None
        assert (r["zPrime"], r["zeta"], r["En"]) == (None, None, None)


def test_robust_sigma_with_a_reference_value() -> None:
    round = make_round(
        list(ISO_13528_E3),
        assigned={"method": "reference", "value": 1.4, "u": 0.01},
        sigma={"method": "robust"},
    )
    out = scoring_of(round)
    assert out["assigned"]["value"] == 1.4
    assert out["assigned"]["u"] == 0.01
    assert out["sigmaPt"]["value"] == out["algorithmA"]["sd"]
    assert by_lab(out)["L01"]["z"] == pytest.approx((1.69 - 1.4) / out["algorithmA"]["sd"])


def test_signals_follow_the_exact_boundaries() -> None:
    round = make_round([0.1, 0.15], assigned={"method": "reference", "value": 0.08, "U": 0.08, "k": 2})
    labs = by_lab(
        scoring_of(round.model_copy(update={"sigma_pt": SigmaPt(method=SigmaMethod.FIXED, value=0.01)}))
    )
    assert labs["L01"]["z"] == 2.0
    assert labs["L01"]["signals"]["z"] == Signal.ACCEPTABLE


def test_invalid_tolerance_is_refused_even_without_algorithm_a() -> None:
    with pytest.raises(ValueError, match="tolerance must be a finite number greater than 0"):
        score_round(mercury(), tolerance=0.0)


def test_tighter_tolerance_reaches_score_round() -> None:
    round = PtRound.model_validate(sample_dict())
    default, tight = score_round(round), score_round(round, tolerance=1e-12)
    assert default.scoring is not None and tight.scoring is not None
    assert default.scoring.algorithm_a is not None and tight.scoring.algorithm_a is not None
    assert tight.scoring.algorithm_a.iterations > default.scoring.algorithm_a.iterations


# --- failure modes: each a clear error naming round and field ---------------------------


def test_pt_error_is_a_record_error() -> None:
    assert issubclass(PtError, RecordError)


def test_too_few_results_for_consensus() -> None:
    with pytest.raises(PtError) as caught:
        score_round(make_round([1.0, 2.0, None]))
    e = caught.value
    assert e.record_id == "TEST-2024-01"
    assert e.field == "results"
    assert (
        e.reason == "assigned.method is consensus: Algorithm A needs at least 3 results with a value, got 2"
    )
    assert str(e).startswith("record TEST-2024-01 field results: ")


def test_too_few_results_for_robust_sigma() -> None:
    with pytest.raises(PtError, match=r"sigmaPt.method is robust: Algorithm A needs at least 3"):
        score_round(
            make_round(
                [1.0, 2.0],
                assigned={"method": "reference", "value": 1.5},
                sigma={"method": "robust"},
            )
        )


def test_every_result_censored() -> None:
    round = make_round([None, None], assigned={"method": "reference", "value": 1.0})
    with pytest.raises(PtError, match=r"no result has a value to score \(all 2 are censored\)") as caught:
        score_round(round)
    assert caught.value.field == "results"


def test_zero_start_sd() -> None:
    with pytest.raises(PtError) as caught:
        score_round(make_round([4.0, 4.0, 4.0, 4.5, 9.0]))
    assert caught.value.field == "results"
    assert "s* is 0 because more than half of the 5 results are identical" in caught.value.reason


@pytest.mark.parametrize("bad", [0.0, -0.5, math.inf, math.nan])
def test_sigma_not_positive(bad: float) -> None:
    round = make_round([1.0, 2.0, 3.0], assigned={"method": "reference", "value": 2.0})
    broken = round.model_copy(
        update={"sigma_pt": SigmaPt.model_construct(method=SigmaMethod.FIXED, value=bad)}
    )
    with pytest.raises(PtError) as caught:
        score_round(broken)
    assert caught.value.field == "sigmaPt.value"
    assert caught.value.reason == f"σ_pt must be a finite number greater than 0, got {bad!r}"


def _with_result(round: PtRound, i: int, **update: Any) -> PtRound:
    results = list(round.results)
    results[i] = results[i].model_copy(update=update)
    return round.model_copy(update={"results": results})


@pytest.mark.parametrize(
    ("update", "field", "reason"),
    [
        (
            {"expanded_u": 0.2, "k": -2.0},
            "results[1].k",
            "lab L02: coverage factor k must be a finite number greater than 0, got -2.0",
        ),
        (
            {"expanded_u": 0.2, "k": 0.0},
            "results[1].k",
            "lab L02: coverage factor k must be a finite number greater than 0, got 0.0",
        ),
        (
            {"u": -0.1},
            "results[1].u",
            "lab L02: standard uncertainty u must be a finite number greater than 0, got -0.1",
        ),
        (
            {"u": None, "expanded_u": math.inf, "k": 2.0},
            "results[1].U",
            "lab L02: expanded uncertainty U must be a finite number greater than 0, got inf",
        ),
        (
            {"u": None, "expanded_u": 0.2, "k": None},
            "results[1].k",
            "lab L02: U needs its coverage factor k",
        ),
        ({"value": math.nan}, "results[1].value", "lab L02: must be a finite number, got nan"),
        ({"value": -math.inf}, "results[1].value", "lab L02: must be a finite number, got -inf"),
        ({"z": math.inf}, "results[1].z", "lab L02: reported z: must be a finite number, got inf"),
    ],
)
def test_bad_result_inputs(update: dict[str, Any], field: str, reason: str) -> None:
    round = make_round([1.0, 2.0, 3.0], assigned={"method": "reference", "value": 2.0, "u": 0.1}, u=0.1)
    with pytest.raises(PtError) as caught:
        score_round(_with_result(round, 1, **update))
    assert (caught.value.field, caught.value.reason, caught.value.record_id) == (
        field,
        reason,
        "TEST-2024-01",
    )


def test_bad_assigned_inputs() -> None:
    round = make_round([1.0, 2.0, 3.0], assigned={"method": "reference", "value": 2.0})
    for update, field, reason in [
        ({"value": math.nan}, "assigned.value", "assigned value: must be a finite number, got nan"),
        (
            {"value": None},
            "assigned.value",
            "assigned.value is required when assigned.method is reference",
        ),
        (
            {"expanded_u": 0.2, "k": -1.0},
            "assigned.k",
            "assigned value: coverage factor k must be a finite number greater than 0, got -1.0",
        ),
    ]:
        broken = round.model_copy(update={"assigned": round.assigned.model_copy(update=update)})
        with pytest.raises(PtError) as caught:
            score_round(broken)
        assert (caught.value.field, caught.value.reason) == (field, reason)


def test_u_and_expanded_u_must_agree() -> None:
    results = [{"lab": "A", "value": 1.0, "u": 0.3, "U": 0.2, "k": 2}, {"lab": "B", "value": 1.1}]
    round = PtRound.model_validate(round_dict(results, assigned={"method": "reference", "value": 1.0}))
    with pytest.raises(PtError) as caught:
        score_round(round)
    assert caught.value.field == "results[0].u"
    assert caught.value.reason == "lab A: u = 0.3 disagrees with U/k = 0.2/2.0 = 0.1"
    agreeing = [{"lab": "A", "value": 1.0, "u": 0.1, "U": 0.2, "k": 2}, {"lab": "B", "value": 1.1}]
    score_round(PtRound.model_validate(round_dict(agreeing, assigned={"method": "reference", "value": 1.0})))


def test_score_overflow_is_an_error_naming_the_lab() -> None:
    round = make_round([1e308, -1e308], assigned={"method": "reference", "value": -1e308})
    tiny = round.model_copy(update={"sigma_pt": SigmaPt(method=SigmaMethod.FIXED, value=1e-300)})
    with pytest.raises(PtError) as caught:
        score_round(tiny)
    assert caught.value.field == "results[0]"
    assert caught.value.reason == "lab L01: z is too large to represent (values or scale out of range)"


# --- scores an export carried ----------------------------------------------------------


def test_reported_scores_that_agree_are_accepted() -> None:
    out = scoring_of(mercury(z=1.36, zPrime=1.16, zeta=1.67, En=0.83))
    assert by_lab(out)["L01"]["z"] == pytest.approx(1.363636, abs=1e-6)  # ours, not theirs
    scoring_of(mercury(z=1.364, En=0.8348))
    scoring_of(mercury(z=1.4))  # reported to one decimal


@pytest.mark.parametrize(
    ("reported", "field", "fragments"),
    [
        ({"z": 1.5}, "results[0].z", ["reported z = 1.5", "computed z = 1.36364"]),
        ({"z": 1.363}, "results[0].z", ["reported z = 1.363", "computed z = 1.36364"]),
        (
            {"zPrime": 1.36},
            "results[0].zPrime",
            ["reported zPrime = 1.36", "computed zPrime = 1.15833"],
        ),
        ({"zeta": -1.67}, "results[0].zeta", ["reported zeta = -1.67", "computed zeta = 1.66953"]),
        ({"En": 0.9}, "results[0].En", ["reported En = 0.9", "computed En = 0.834766"]),
    ],
)
def test_reported_scores_that_disagree_reject_the_round(
    reported: dict[str, float], field: str, fragments: list[str]
) -> None:
    with pytest.raises(PtError) as caught:
        score_round(mercury(**reported))
    assert caught.value.field == field
    assert caught.value.record_id == "TEST-2024-01"
    assert caught.value.reason.startswith("lab L01: ")
    for fragment in fragments:
        assert fragment in caught.value.reason


def test_reported_score_on_a_censored_result() -> None:
    results = [{"lab": "A", "value": None, "remark": "<LOQ", "z": -2.1}, {"lab": "B", "value": 1.0}]
    round = PtRound.model_validate(round_dict(results, assigned={"method": "reference", "value": 1.0}))
    with pytest.raises(PtError) as caught:
        score_round(round)
    assert caught.value.field == "results[0].z"
    assert caught.value.reason == (
        "lab A: the export reports z = -2.1, but the result is censored (no value) and is not scored"
    )


def test_reported_zeta_without_any_uncertainty() -> None:
    results = [{"lab": "A", "value": 1.2, "zeta": 1.0}, {"lab": "B", "value": 1.0}]
    round = PtRound.model_validate(
        round_dict(results, assigned={"method": "reference", "value": 1.0, "u": 0.1})
    )
    with pytest.raises(PtError, match=r"reports zeta = 1.0, but the result has no uncertainty"):
        score_round(round)
    no_u_pt = PtRound.model_validate(
        round_dict(
            [{"lab": "A", "value": 1.2, "u": 0.1, "En": 1.0}, {"lab": "B", "value": 1.0}],
            assigned={"method": "reference", "value": 1.0},
        )
    )
    with pytest.raises(PtError, match=r"reports En = 1.0, but the assigned value has no stated uncertainty"):
        score_round(no_u_pt)


def test_reported_z_prime_is_checked_even_where_it_is_not_shown() -> None:
    data = sample_dict()
    round = PtRound.model_validate(data)
    scored = score_round(round)
    assert scored.scoring is not None and scored.scoring.assigned.u_negligible is True
    data["results"][0]["zPrime"] = 5.0
    with pytest.raises(PtError, match=r"reported zPrime = 5.0 disagrees"):
        score_round(PtRound.model_validate(data))


def test_consensus_scores_allow_for_where_algorithm_a_stopped() -> None:
    # A provider that stops Algorithm A when x* no longer changes in its own third
    # significant figure has x* = 89.3 here (ours: 89.2889). With σ_pt = 1 its
    # z for L01 is -1.20 where ours is -1.1889; that is the standard's precision,
    # not a wrong score.
    data = sample_dict()
    data["sigmaPt"]["value"] = 1.0
    data["results"][0]["z"] = -1.20
    score_round(PtRound.model_validate(data))
    data["results"][0]["z"] = -1.50
    with pytest.raises(PtError, match=r"reported z = -1.5 disagrees with the computed z = -1.18889"):
        score_round(PtRound.model_validate(data))


def test_consensus_scores_from_a_provider_that_iterated_to_convergence() -> None:
    # Creeping data: the standard's stop and full convergence differ by over 10 %
    # in s*. A provider doing either is following ISO 13528; both are accepted.
    values = [0.0] * 7 + [0.01] * 3 + [0.05] + [-0.06] * 3
    standard = algorithm_a(values)
    converged = algorithm_a(values, tolerance=1e-12)
    data = round_dict(
        [{"lab": f"L{n:02d}", "value": v} for n, v in enumerate(values, start=1)],
        sigma={"method": "robust"},
    )
    for algo in (standard, converged):
        data["results"][10]["z"] = round((0.05 - algo.mean) / algo.sd, 2)
        score_round(PtRound.model_validate(data))
    # Beyond the standard-rule end of the range (2.03) by more than rounding.
    data["results"][10]["z"] = 2.08
    with pytest.raises(PtError) as caught:
        score_round(PtRound.model_validate(data))
    assert caught.value.field == "results[10].z"
    assert "reported z = 2.08 disagrees with the computed z = 1.97597" in caught.value.reason
    assert "where Algorithm A stops allows 1.739" in caught.value.reason


def test_an_uncertainty_that_overflows_is_refused_not_scored_acceptable() -> None:
    """Issue 13, finding 8: U/k beyond any float made ζ = -0.0, "acceptable"."""
    round = mercury(U=1e308, k=1e-10)
    with pytest.raises(PtError) as caught:
        score_round(round)
    assert caught.value.field is not None and caught.value.field.endswith(".U")
    assert "too large to represent" in caught.value.reason


def test_an_assigned_uncertainty_that_overflows_is_refused() -> None:
    assigned = {"method": "reference", "value": 0.044, "U": 1.5e308, "k": 0.5}
    round = PtRound.model_validate(round_dict([dict(r) for r in MERCURY], assigned=assigned, sigma=FIXED))
    with pytest.raises(PtError) as caught:
        score_round(round)
    assert caught.value.field == "assigned.U" and "too large to represent" in caught.value.reason
