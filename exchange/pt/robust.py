"""Algorithm A (ISO 13528:2022, C.3.1): robust mean x* and robust SD s*.

Pure Python on purpose: the numbers are few, and each step is the standard's
own formula, so an assessor can follow it line by line.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from exchange.model.pt import AlgorithmAResult
from exchange.pt.errors import PtError
from exchange.pt.figures import third_figure_unit

MIN_RESULTS = 3
"""Fewest values Algorithm A accepts.

The algorithm's s* divides by p - 1, and with fewer than three values the
median start is just the mean, so nothing is robust about it. ISO 13528
(5.4) warns that consensus statistics from few participants are unreliable
but sets no floor; a scheme may well want more, this is the least the
arithmetic needs.
"""

MAX_ITERATIONS = 10_000
"""Safety stop. Algorithm A usually converges in a handful of steps, but where
about half the values are identical it creeps (each step ~3 % shorter than the
last), and a tight tolerance can need a thousand steps or more."""

CONVERGED = 1e-9
"""A tolerance at which x* and s* are, for any score printed, the fixed point."""

_NOISE_ULPS = 64
"""Changes this small (in ulps of the values) are floating-point noise, not change."""


@dataclass(frozen=True, slots=True)
class AlgorithmA:
    """Outcome of Algorithm A, with every (x*, s*) pair from the start on.

    `history[0]` is the start (median, 1.483·MAD); `history[i]` the i-th
    update, so an assessor can compare each step with a worked example.
    """

    mean: float
    sd: float
    iterations: int
    p: int
    history: tuple[tuple[float, float], ...]

    def to_model(self) -> AlgorithmAResult:
        return AlgorithmAResult(mean=self.mean, sd=self.sd, iterations=self.iterations)


def algorithm_a(values: Sequence[float], *, tolerance: float | None = None) -> AlgorithmA:
    """Run ISO 13528 Algorithm A on `values` (censored results already left out).

    Stops by the standard's rule (see `_unchanged`); with `tolerance` it also
    requires each change to be at most `tolerance`·s*, a tighter stop that the
    standard allows ("a tighter tolerance is fine"). Where the iteration creeps,
    the standard's rule can stop well short of the fixed point (s* off by over
    10 % in tests/pt/test_robust.py); a tolerance such as CONVERGED does not.
    Raises PtError for too few values, non-finite values, and a zero start s*.
    """
    check_tolerance(tolerance)
    p = len(values)
    if p < MIN_RESULTS:
        raise PtError(f"Algorithm A needs at least {MIN_RESULTS} results with a value, got {p}")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise PtError(f"Algorithm A needs finite values, got {bad[0]!r}")
    # Sorted input makes the outcome independent of the order results came in,
    # to the last bit (the standard also starts from the sorted data).
    xs = sorted(values)
    x_star, s_star = _start(xs)
    history = [(x_star, s_star)]
    for iteration in range(1, MAX_ITERATIONS + 1):
        x_new, s_new = _update(xs, x_star, s_star)
        history.append((x_new, s_new))
        if _converged(x_star, s_star, x_new, s_new, tolerance):
            return AlgorithmA(x_new, s_new, iteration, p, tuple(history))
        x_star, s_star = x_new, s_new
    raise PtError(
        f"Algorithm A did not converge within {MAX_ITERATIONS} iterations"
        + ("" if tolerance is None else f" at tolerance {tolerance!r}; try a looser one")
    )


def check_tolerance(tolerance: float | None) -> None:
    """A tolerance is a positive finite fraction of s* (a programming error otherwise)."""
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be a finite number greater than 0, got {tolerance!r}")


def _start(xs: Sequence[float]) -> tuple[float, float]:
    """C.3.1 start: x* = median(x), s* = 1.483·median|x - x*|."""
    x_star = statistics.median(xs)
    s_star = 1.483 * statistics.median([abs(v - x_star) for v in xs])
    if not (math.isfinite(x_star) and math.isfinite(s_star)):
        raise PtError("Algorithm A: the values are too large to compute with (overflow)")
    if s_star == 0:
        # The standard's method breaks down here: δ = 0 would clip every value
        # onto the median. Say so rather than divide by zero.
        raise PtError(
            f"Algorithm A cannot start: the robust standard deviation s* is 0 because "
            f"more than half of the {len(xs)} results are identical (equal to the median "
            f"{x_star!r}); use a fixed sigmaPt and an assigned value not taken by consensus"
        )
    return x_star, s_star


def _update(xs: Sequence[float], x_star: float, s_star: float) -> tuple[float, float]:
    """One C.3.1 step: clip to x* ± 1.5·s*, then x* = mean, s* = 1.134·SD (p - 1)."""
    delta = 1.5 * s_star
    lo, hi = x_star - delta, x_star + delta
    clipped = [min(max(v, lo), hi) for v in xs]
    p = len(clipped)
    try:
        x_new = math.fsum(clipped) / p  # fsum: exactly rounded, whatever the order
    except OverflowError:
        x_new = math.inf
    # hypot gives sqrt(sum of squares) without overflow or underflow on the way.
    s_new = 1.134 * math.hypot(*(v - x_new for v in clipped)) / math.sqrt(p - 1)
    if not (math.isfinite(x_new) and math.isfinite(s_new)) or s_new <= 0:
        raise PtError("Algorithm A: the values are too large to compute with (overflow)")
    return x_new, s_new


def _converged(x_old: float, s_old: float, x_new: float, s_new: float, tolerance: float | None) -> bool:
    noise = _NOISE_ULPS * math.ulp(max(abs(x_new), s_new))
    if not (_unchanged(x_old, x_new, s_new, noise) and _unchanged(s_old, s_new, s_new, noise)):
        return False
    if tolerance is None:
        return True
    bound = max(tolerance * s_new, noise)
    return abs(x_new - x_old) <= bound and abs(s_new - s_old) <= bound


def _unchanged(old: float, new: float, s_star: float, noise: float) -> bool:
    """The standard's stop rule for one quantity.

    ISO 13528 (C.1 of the 2005 edition, kept since): "no change from one
    iteration to the next in the third significant figure of the robust
    standard deviation and of the equivalent figure in the robust average".
    So both x* and s* are judged at the decimal place of the third significant
    figure of s* (domain.md shortens this to "the third significant figure";
    for x* the standard's "equivalent figure" is the one that works when x* is
    near zero). "No change" is read as: rounded at that place, the two
    iterates are equal.
    """
    if abs(new - old) <= noise:
        return True
    unit = third_figure_unit(s_star)
    return round(old / unit) == round(new / unit)
