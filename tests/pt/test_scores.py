"""z, z′, ζ, En (ISO 13528:2022 clause 9) and the signals at their boundaries."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from exchange.model.pt import Signal
from exchange.pt import (
    PtError,
    en_score,
    en_signal,
    signal,
    u_consensus,
    u_negligible,
    z_prime_score,
    z_score,
    zeta_score,
)

# The round in domestic-formats.md: x_pt = 0.044 with U = 0.0082 (k = 2),
# σ_pt = 0.0066; L01 reports 0.053 with U = 0.007 (k = 2), L04 0.013 with
# U = 0.003 (k = 2). Scores worked by hand:
#   z(L01)  = 0.009 / 0.0066                       = 1.363636…
#   z′(L01) = 0.009 / √(0.0066² + 0.0041²)         = 1.158329…
#   ζ(L01)  = 0.009 / √(0.0035² + 0.0041²)         = 1.669532…
#   En(L01) = 0.009 / √(0.007² + 0.0082²)          = 0.834766…
#   z(L04)  = -0.031 / 0.0066                      = -4.696970…
#   ζ(L04)  = -0.031 / √(0.0015² + 0.0041²)        = -7.100685…
#   En(L04) = -0.031 / √(0.003² + 0.0082²)         = -3.550342…


def test_z_worked_example() -> None:
    assert z_score(0.053, 0.044, 0.0066).value == pytest.approx(1.363636, abs=1e-6)
    assert z_score(0.053, 0.044, 0.0066).signal is Signal.ACCEPTABLE
    assert z_score(0.013, 0.044, 0.0066).value == pytest.approx(-4.696970, abs=1e-6)
    assert z_score(0.013, 0.044, 0.0066).signal is Signal.ACTION


def test_z_prime_worked_example() -> None:
    score = z_prime_score(0.053, 0.044, 0.0066, 0.0041)
    assert score.value == pytest.approx(1.158329, abs=1e-6)
    assert score.signal is Signal.ACCEPTABLE


def test_zeta_worked_example() -> None:
    assert zeta_score(0.053, 0.0035, 0.044, 0.0041).value == pytest.approx(1.669532, abs=1e-6)
    l04 = zeta_score(0.013, 0.0015, 0.044, 0.0041)
    assert l04.value == pytest.approx(-7.100685, abs=1e-6)
    assert l04.signal is Signal.ACTION


def test_en_worked_example() -> None:
    l01 = en_score(0.053, 0.007, 0.044, 0.0082)
    assert l01.value == pytest.approx(0.834766, abs=1e-6)
    assert l01.signal is Signal.ACCEPTABLE
    l04 = en_score(0.013, 0.003, 0.044, 0.0082)
    assert l04.value == pytest.approx(-3.550342, abs=1e-6)
    assert l04.signal is Signal.ACTION


def test_z_prime_is_never_larger_than_z() -> None:
    z = z_score(12.0, 10.0, 1.0).value
    assert abs(z_prime_score(12.0, 10.0, 1.0, 0.5).value) < abs(z)
    assert z_prime_score(12.0, 10.0, 1.0, 0.0).value == z


@pytest.mark.parametrize(
    ("x", "x_pt", "sigma", "expected"),
    [
        (2.0, 0.0, 1.0, Signal.ACCEPTABLE),  # |z| = 2.0: acceptable (≤ 2)
        (-2.0, 0.0, 1.0, Signal.ACCEPTABLE),
        (2.5, 0.0, 1.0, Signal.WARNING),
        (-2.5, 0.0, 1.0, Signal.WARNING),
        (3.0, 0.0, 1.0, Signal.ACTION),  # |z| = 3.0: action (≥ 3)
        (-3.0, 0.0, 1.0, Signal.ACTION),
        (2.0000001, 0.0, 1.0, Signal.WARNING),
        (2.9999999, 0.0, 1.0, Signal.WARNING),
    ],
)
def test_z_signal_boundaries(x: float, x_pt: float, sigma: float, expected: Signal) -> None:
    assert z_score(x, x_pt, sigma).signal is expected


def test_boundary_is_judged_on_the_decimal_values_not_the_float() -> None:
    # (0.1 - 0.08) / 0.01 is exactly 2; naive floating point says 2.0000000000000004.
    assert (0.1 - 0.08) / 0.01 > 2.0
    score = z_score(0.1, 0.08, 0.01)
    assert score.value == 2.0
    assert score.signal is Signal.ACCEPTABLE
    # (0.1 + 0.47) / 0.19 is exactly 3; naive floating point says 2.9999999999999996.
    assert (0.1 - -0.47) / 0.19 < 3.0
    score = z_score(0.1, -0.47, 0.19)
    assert score.value == 3.0
    assert score.signal is Signal.ACTION


def test_en_exactly_one_is_action() -> None:
    # 0.05 / √(0.03² + 0.04²) = 1 exactly (3-4-5); naive floats say 0.9999999999999998.
    assert (0.15 - 0.1) / math.sqrt(0.03**2 + 0.04**2) < 1.0
    score = en_score(0.15, 0.03, 0.1, 0.04)
    assert score.value == 1.0
    assert score.signal is Signal.ACTION
    assert en_score(0.149, 0.03, 0.1, 0.04).signal is Signal.ACCEPTABLE
    assert en_score(0.05, 0.03, 0.1, 0.04).signal is Signal.ACTION  # En = -1


def test_zeta_and_z_prime_boundaries_are_exact() -> None:
    # ζ = 0.1 / √(0.03² + 0.04²) = 2 exactly: acceptable.
    assert zeta_score(0.2, 0.03, 0.1, 0.04).signal is Signal.ACCEPTABLE
    # z′ = 0.15 / √(0.03² + 0.04²) = 3 exactly: action.
    assert z_prime_score(0.25, 0.1, 0.03, 0.04).signal is Signal.ACTION


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, Signal.ACCEPTABLE),
        (2.0, Signal.ACCEPTABLE),
        (-2.0, Signal.ACCEPTABLE),
        (2.01, Signal.WARNING),
        (-2.99, Signal.WARNING),
        (3.0, Signal.ACTION),
        (-3.0, Signal.ACTION),
        (12.5, Signal.ACTION),
    ],
)
def test_signal_of_a_number(score: float, expected: Signal) -> None:
    assert signal(score) is expected


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, Signal.ACCEPTABLE),
        (0.99, Signal.ACCEPTABLE),
        (-0.99, Signal.ACCEPTABLE),
        (1.0, Signal.ACTION),
        (-1.0, Signal.ACTION),
        (2.5, Signal.ACTION),
    ],
)
def test_en_signal_of_a_number(score: float, expected: Signal) -> None:
    assert en_signal(score) is expected


def test_u_consensus() -> None:
    assert u_consensus(2.0, 25) == pytest.approx(1.25 * 2.0 / 5.0)
    with pytest.raises(PtError, match="at least one result"):
        u_consensus(1.0, 0)


def test_u_negligible_below_three_tenths_of_sigma() -> None:
    assert u_negligible(0.29, 1.0) is True
    assert u_negligible(0.3, 1.0) is False  # u = 0.3·σ exactly: not negligible
    assert u_negligible(0.031, 0.1) is False
    # 0.3 * 0.1 is 0.030000000000000002 in floats; the exact comparison says equal.
    assert u_negligible(0.03, 0.1) is False
    assert u_negligible(Fraction(299, 1000), 1.0) is True


@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_sigma_must_be_positive(sigma: float) -> None:
    with pytest.raises(PtError, match=r"σ_pt must be greater than 0, got"):
        z_score(1.0, 0.0, sigma)
    with pytest.raises(PtError, match=r"σ_pt must be greater than 0"):
        u_negligible(0.1, sigma)


def test_uncertainties_must_be_usable() -> None:
    with pytest.raises(PtError, match=r"u\(x\) must be greater than 0"):
        zeta_score(1.0, 0.0, 0.0, 0.1)
    with pytest.raises(PtError, match=r"u\(x_pt\) must not be negative"):
        z_prime_score(1.0, 0.0, 1.0, -0.1)
    with pytest.raises(PtError, match=r"U\(x\) must be greater than 0"):
        en_score(1.0, -0.2, 0.0, 0.1)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_inputs_are_refused(bad: float) -> None:
    with pytest.raises(PtError, match="is not a finite number"):
        z_score(bad, 0.0, 1.0)
    with pytest.raises(PtError, match="is not a finite number"):
        en_score(1.0, 0.1, bad, 0.1)


def test_scores_too_large_to_represent_are_errors() -> None:
    with pytest.raises(PtError, match="z is too large to represent"):
        z_score(1e308, -1e308, 1e-300)
    with pytest.raises(PtError, match="En is too large to represent"):
        en_score(1e308, 1e-300, -1e308, 1e-300)


def test_tiny_uncertainties_do_not_underflow() -> None:
    # √(u_x² + u_pt²) would underflow to 0 in floats; exact arithmetic does not.
    assert zeta_score(3e-200, 3e-200, 0.0, 4e-200).value == pytest.approx(0.6)
