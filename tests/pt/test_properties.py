"""Properties the statistics must have whatever the data (hypothesis)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from exchange.model.pt import PtRound
from exchange.pt import PtError, algorithm_a, score_round, z_score
from tests.pt.rounds import round_dict

# Values on a 0.01 grid: real PT data are decimals, and a grid keeps distinct
# values distinct after shifting and scaling, so the properties are about the
# statistics, not about floating-point rounding of the inputs.
grid_values = st.integers(min_value=-100_000, max_value=100_000).map(lambda n: n / 100)
value_lists = st.lists(grid_values, min_size=3, max_size=25)
uncertainties = st.one_of(st.none(), st.floats(min_value=0.001, max_value=100.0))
scales = st.floats(min_value=0.01, max_value=100.0).flatmap(lambda a: st.sampled_from([a, -a]))
shifts = st.floats(min_value=-10_000.0, max_value=10_000.0)
TIGHT = 1e-9


def _round(values: list[float | None], us: list[float | None], sigma: dict[str, Any]) -> PtRound:
    results: list[dict[str, Any]] = []
    for n, (v, u) in enumerate(zip(values, us, strict=True), start=1):
        r: dict[str, Any] = {"lab": f"L{n:03d}", "value": v}
        if v is None:
            r["remark"] = "<LOQ"
        elif u is not None:
            r["u"] = u
        results.append(r)
    return PtRound.model_validate(round_dict(results, sigma=sigma))


def _outcome(round: PtRound, tolerance: float | None = None) -> dict[str, Any] | str:
    """The scoring as JSON, or the reason it failed (both must be order-free)."""
    try:
        scored = score_round(round, tolerance=tolerance)
    except PtError as e:
        return e.reason
    assert scored.scoring is not None
    out: dict[str, Any] = scored.scoring.model_dump(mode="json", by_alias=True)
    return out


def _by_lab(out: dict[str, Any]) -> dict[str, Any]:
    return {r["lab"]: r for r in out["results"]}


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.tuples(st.one_of(grid_values, st.none()), uncertainties), min_size=3, max_size=25),
    robust=st.booleans(),
    order=st.randoms(use_true_random=False),
)
def test_scores_do_not_depend_on_the_order_of_results(
    data: list[tuple[float | None, float | None]], robust: bool, order: Any
) -> None:
    sigma = {"method": "robust"} if robust else {"method": "fixed", "value": 2.5}
    values, us = [v for v, _ in data], [u for _, u in data]
    first = _outcome(_round(values, us, sigma))
    shuffled = list(range(len(data)))
    order.shuffle(shuffled)
    permuted = _round([values[i] for i in shuffled], [us[i] for i in shuffled], sigma)
    # Lab names travel with their results.
    renamed = permuted.model_copy(
        update={
            "results": [
                r.model_copy(update={"lab": f"L{i + 1:03d}"})
                for r, i in zip(permuted.results, shuffled, strict=True)
            ]
        }
    )
    second = _outcome(renamed)
    if isinstance(first, str) or isinstance(second, str):
        assert first == second
        return
    assert {k: v for k, v in first.items() if k != "results"} == {
        k: v for k, v in second.items() if k != "results"
    }
    assert _by_lab(first) == _by_lab(second)


@settings(max_examples=200, deadline=None)
@given(values=value_lists, a=scales, b=shifts)
def test_algorithm_a_is_equivariant_under_shift_and_scale(values: list[float], a: float, b: float) -> None:
    try:
        base = algorithm_a(values, tolerance=TIGHT)
    except PtError as e:
        # Identical data stay identical (s* = 0 both ways); data creeping too
        # slowly to settle at TIGHT fail both ways too. Neither is a number.
        assume("s* is 0" not in e.reason and "did not converge" not in e.reason)
        raise
    moved = algorithm_a([a * v + b for v in values], tolerance=TIGHT)
    # Both runs take the same steps, transformed; they may stop one step apart
    # (≤ TIGHT·s* each), and a·x + b is itself rounded.
    spread = abs(b) + abs(a) * max(abs(v) for v in values)
    eps = 1e-9 * spread + 4 * TIGHT * abs(a) * base.sd
    assert math.isclose(moved.mean, a * base.mean + b, abs_tol=eps)
    assert math.isclose(moved.sd, abs(a) * base.sd, abs_tol=eps)


@settings(max_examples=200, deadline=None)
@given(x=grid_values, x_pt=grid_values, sigma=st.floats(0.01, 100.0), a=scales, b=shifts)
def test_z_is_equivariant_under_shift_and_scale(
    x: float, x_pt: float, sigma: float, a: float, b: float
) -> None:
    z = z_score(x, x_pt, sigma).value
    moved = z_score(a * x + b, a * x_pt + b, abs(a) * sigma).value
    eps = 1e-9 * (abs(b) + abs(a) * (abs(x) + abs(x_pt))) / (abs(a) * sigma) + 1e-12
    assert math.isclose(moved, math.copysign(1.0, a) * z, abs_tol=eps)


@settings(max_examples=100, deadline=None)
@given(values=value_lists, a=scales, b=shifts)
def test_consensus_z_scores_are_equivariant_under_shift_and_scale(
    values: list[float], a: float, b: float
) -> None:
    nones: list[float | None] = [None] * len(values)
    base = _outcome(_round(list(values), nones, {"method": "robust"}), TIGHT)
    assume(not isinstance(base, str))
    assert not isinstance(base, str)
    moved = _outcome(_round([a * v + b for v in values], nones, {"method": "robust"}), TIGHT)
    assert not isinstance(moved, str)
    sign = math.copysign(1.0, a)
    for before, after in zip(base["results"], moved["results"], strict=True):
        assert math.isclose(after["z"], sign * before["z"], abs_tol=1e-6)
        assert after["signals"]["z"] == before["signals"]["z"] or math.isclose(
            abs(before["z"]), round(abs(before["z"])), abs_tol=1e-6
        )  # only a score sitting on a boundary may change side by rounding


@settings(max_examples=150, deadline=None)
@given(
    values=value_lists,
    censored_at=st.lists(st.integers(min_value=0, max_value=30), max_size=8),
    robust=st.booleans(),
)
def test_censored_results_never_change_the_consensus(
    values: list[float], censored_at: list[int], robust: bool
) -> None:
    sigma = {"method": "robust"} if robust else {"method": "fixed", "value": 2.5}
    plain = _outcome(_round(list(values), [None] * len(values), sigma))
    with_censored: list[float | None] = list(values)
    for position in censored_at:
        with_censored.insert(min(position, len(with_censored)), None)
    # Give the original labs their original names back.
    round = _round(with_censored, [None] * len(with_censored), sigma)
    names = iter(f"L{n:03d}" for n in range(1, len(values) + 1))
    extra = iter(f"C{n:03d}" for n in range(1, len(censored_at) + 1))
    round = round.model_copy(
        update={
            "results": [
                r.model_copy(update={"lab": next(names) if r.value is not None else next(extra)})
                for r in round.results
            ]
        }
    )
    mixed = _outcome(round)
    if isinstance(plain, str) or isinstance(mixed, str):
        assert plain == mixed
        return
    for key in ("assigned", "sigmaPt", "algorithmA", "participants"):
        assert plain[key] == mixed[key]
    mixed_labs = _by_lab(mixed)
    for lab, scores in _by_lab(plain).items():
        assert mixed_labs[lab] == scores
    assert all(mixed_labs[f"C{n:03d}"]["z"] is None for n in range(1, len(censored_at) + 1))
