"""Algorithm A (ISO 13528 C.3.1) against a published worked example and its edge cases."""

from __future__ import annotations

import math

import pytest

from exchange.pt import MIN_RESULTS, PtError, algorithm_a, robust
from exchange.pt.robust import CONVERGED, MAX_ITERATIONS

# ISO 13528:2015, Annex E.3 (example of Algorithm A), 12 laboratories' results,
# as reproduced step by step in S. Subramanian, "The Algorithm A in Detail"
# (presentation, 22 Feb 2025, citing ISO 5725-5:1998 6.2 and ISO 13528:2015 E.3;
# https://slideorbit.com/slide/the-algorithm-a-in-detail-powerpoint-ppt-presentation/291515).
# Labs 1, 2, 6, 8, 9, 12, 13, 14, 19, 20, 22, 25 in that order.
ISO_13528_E3 = [1.69, 0.74, 2.05, 1.14, 2.19, 1.39, 1.52, 1.50, 1.58, 0.80, 1.21, 1.63]
# The published iterates (x*, s*): start, iteration 1, iteration 2, to the
# digits the source prints.
ISO_13528_E3_PUBLISHED = [(1.510, 0.3559), (1.475, 0.4072), (1.460, 0.4486)]


def test_start_and_first_iterations_match_the_published_example() -> None:
    result = algorithm_a(ISO_13528_E3)
    for (x_pub, s_pub), (x, s) in zip(ISO_13528_E3_PUBLISHED, result.history, strict=False):
        assert round(x, 3) == pytest.approx(x_pub, abs=1e-12)
        assert round(s, 4) == pytest.approx(s_pub, abs=1e-12)


def test_published_example_converges_by_the_third_figure_rule() -> None:
    result = algorithm_a(ISO_13528_E3)
    # Following the published iterates to the end: x* ≈ 1.45, s* ≈ 0.496, and
    # the last two iterates agree at the third figure of s* (0.001).
    assert round(result.mean, 3) == 1.453
    assert round(result.sd, 3) == 0.496
    (x_prev, s_prev), (x_last, s_last) = result.history[-2:]
    assert round(x_prev, 3) == round(x_last, 3)
    assert round(s_prev, 3) == round(s_last, 3)
    assert result.iterations == len(result.history) - 1
    assert result.p == 12
    assert result.to_model().model_dump() == {
        "mean": result.mean,
        "sd": result.sd,
        "iterations": result.iterations,
    }


def test_stops_as_soon_as_the_third_figure_of_s_stops_changing() -> None:
    result = algorithm_a(ISO_13528_E3)
    # Every earlier step still changed something at that figure.
    for (x0, s0), (x1, s1) in zip(result.history[:-2], result.history[1:-1], strict=True):
        unit = 10.0 ** (math.floor(math.log10(s1)) - 2)
        assert round(x0 / unit) != round(x1 / unit) or round(s0 / unit) != round(s1 / unit)


def test_tighter_tolerance_is_never_looser_than_the_standard() -> None:
    values = [10.1, 10.3, 9.8, 10.0, 10.6, 9.9, 12.9, 10.2, 7.5, 10.4]
    default = algorithm_a(values)
    tight = algorithm_a(values, tolerance=1e-12)
    assert tight.iterations >= default.iterations
    (x0, s0), (x1, s1) = tight.history[-2:]
    assert abs(x1 - x0) <= 1e-12 * s1 + 64 * math.ulp(x1)
    assert abs(s1 - s0) <= 1e-12 * s1 + 64 * math.ulp(x1)
    # Both are the same estimate to the precision the standard asks for.
    assert tight.mean == pytest.approx(default.mean, abs=0.01 * default.sd)
    assert tight.sd == pytest.approx(default.sd, rel=0.01)


# Half the values identical: Algorithm A creeps (each step about 3 % shorter).
CREEPING = [0.0] * 7 + [0.01] * 3 + [0.05] + [-0.06] * 3


def test_standard_rule_can_stop_short_where_the_iteration_creeps() -> None:
    standard = algorithm_a(CREEPING)
    converged = algorithm_a(CREEPING, tolerance=CONVERGED)
    # The third-figure rule is met by a small step, not by arrival.
    assert standard.iterations < 100 < converged.iterations
    assert round(standard.sd, 4) == 0.0280
    assert round(converged.sd, 4) == 0.0317
    assert converged.sd / standard.sd > 1.1


def test_an_iteration_that_will_not_settle_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(robust, "MAX_ITERATIONS", 50)
    with pytest.raises(PtError, match=r"did not converge within 50 iterations at tolerance 1e-12"):
        algorithm_a(CREEPING, tolerance=1e-12)
    assert MAX_ITERATIONS == 10_000


def test_outliers_are_clipped_not_followed() -> None:
    values = [10.0, 10.2, 9.9, 10.1, 9.8, 10.3, 1000.0]
    result = algorithm_a(values)
    assert 9.9 < result.mean < 10.3
    assert result.sd < 1.0


def test_result_is_the_same_whatever_the_order() -> None:
    forward = algorithm_a(ISO_13528_E3)
    backward = algorithm_a(list(reversed(ISO_13528_E3)))
    assert (forward.mean, forward.sd, forward.history) == (
        backward.mean,
        backward.sd,
        backward.history,
    )


def test_fewer_values_than_the_method_needs() -> None:
    with pytest.raises(PtError, match=r"Algorithm A needs at least 3 results with a value, got 2"):
        algorithm_a([1.0, 2.0])
    assert MIN_RESULTS == 3


def test_zero_start_sd_says_why_instead_of_dividing_by_zero() -> None:
    with pytest.raises(PtError) as caught:
        algorithm_a([5.0, 5.0, 5.0, 6.0, 7.0])
    message = str(caught.value)
    assert "s* is 0" in message
    assert "more than half of the 5 results are identical" in message
    assert "median 5.0" in message


def test_half_identical_is_still_fine() -> None:
    # Exactly half equal to the median does not zero the MAD (p even).
    result = algorithm_a([1.0, 5.0, 5.0, 9.0])
    assert result.sd > 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    with pytest.raises(PtError, match="Algorithm A needs finite values"):
        algorithm_a([1.0, 2.0, bad, 3.0])


def test_overflow_is_an_error_not_a_number() -> None:
    with pytest.raises(PtError, match="too large to compute with"):
        algorithm_a([-1.7e308, -1.6e308, 1.5e308, 1.6e308, 1.7e308])


@pytest.mark.parametrize("tolerance", [0.0, -1e-6, math.nan, math.inf])
def test_tolerance_must_be_positive_and_finite(tolerance: float) -> None:
    with pytest.raises(ValueError, match="tolerance must be a finite number greater than 0"):
        algorithm_a(ISO_13528_E3, tolerance=tolerance)


def test_mean_near_zero_converges() -> None:
    # x* near 0: the stop rule judges x* at the figure of s*, so it ends.
    values = [-0.3, -0.1, 0.0, 0.1, 0.2, 0.3, -0.2, 0.05]
    result = algorithm_a(values)
    assert result.iterations < MAX_ITERATIONS
    assert abs(result.mean) < 0.1
