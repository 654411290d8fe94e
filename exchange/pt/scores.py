"""Performance scores of ISO 13528:2022 (clause 9) and their signals.

Signals are decided in exact rational arithmetic on the decimal values, not on
the rounded float score: a result exactly on a boundary (z = 2.0, En = 1.0)
gets the standard's verdict, not whatever the last bit of a float says.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from exchange.model.pt import Signal
from exchange.pt.errors import PtError

Number = float | Fraction
"""Floats are taken as the decimal they print as (0.3 is 3/10); Fractions as they are."""

NEGLIGIBLE_RATIO = Fraction(3, 10)
"""u(x_pt) is negligible when u(x_pt) < 0.3·σ_pt (ISO 13528 9.2.1, as domain.md states)."""

EN_COVERAGE = 2
"""En compares expanded uncertainties at about 95 % coverage: U = 2·u.

A result or assigned value given with another k is brought to k = 2
(U₂ = 2·U/k) so that the |En| < 1 criterion means what the standard means;
one given with a standard uncertainty u only gets U = 2·u.
"""


@dataclass(frozen=True, slots=True)
class Score:
    """A score and its signal, decided together."""

    value: float
    signal: Signal


def exact(v: Number) -> Fraction:
    """The exact value a number stands for (a float's shortest decimal form)."""
    if isinstance(v, Fraction):
        return v
    if not math.isfinite(v):
        raise PtError(f"{v!r} is not a finite number")
    return Fraction(repr(float(v)))


def z_score(x: Number, x_pt: Number, sigma_pt: Number) -> Score:
    """z = (x - x_pt) / σ_pt."""
    d = exact(x) - exact(x_pt)
    s = _positive(sigma_pt, "σ_pt")
    return Score(_float(d / s, "z"), _signal(d * d, s * s))


def z_prime_score(x: Number, x_pt: Number, sigma_pt: Number, u_pt: Number) -> Score:
    """z′ = (x - x_pt) / √(σ_pt² + u²(x_pt)): z that also allows for u(x_pt)."""
    d = exact(x) - exact(x_pt)
    s = _positive(sigma_pt, "σ_pt")
    u = _non_negative(u_pt, "u(x_pt)")
    return _combined(d, s * s + u * u, "z′", _signal)


def zeta_score(x: Number, u_x: Number, x_pt: Number, u_pt: Number) -> Score:
    """ζ = (x - x_pt) / √(u²(x) + u²(x_pt)), standard uncertainties."""
    d = exact(x) - exact(x_pt)
    ux = _positive(u_x, "u(x)")
    upt = _non_negative(u_pt, "u(x_pt)")
    return _combined(d, ux * ux + upt * upt, "ζ", _signal)


def en_score(x: Number, expanded_x: Number, x_pt: Number, expanded_pt: Number) -> Score:
    """En = (x - x_pt) / √(U²(x) + U²(x_pt)), expanded uncertainties (k = 2)."""
    d = exact(x) - exact(x_pt)
    ux = _positive(expanded_x, "U(x)")
    upt = _non_negative(expanded_pt, "U(x_pt)")
    return _combined(d, ux * ux + upt * upt, "En", _en_signal)


def u_consensus(s_star: float, p: int) -> float:
    """u(x_pt) = 1.25·s*/√p for an assigned value from Algorithm A (ISO 13528 C.3/7.7)."""
    if p < 1:
        raise PtError(f"u(x_pt) needs at least one result, got p = {p}")
    return 1.25 * s_star / math.sqrt(p)


def u_negligible(u_pt: Number, sigma_pt: Number) -> bool:
    """True when u(x_pt) < 0.3·σ_pt: then z alone judges, z′ adds nothing."""
    return exact(u_pt) < NEGLIGIBLE_RATIO * _positive(sigma_pt, "σ_pt")


def signal(score: float) -> Signal:
    """Signal of a z, z′ or ζ score given as a number.

    |s| ≤ 2.0 acceptable, 2.0 < |s| < 3.0 warning, |s| ≥ 3.0 action.
    """
    return _signal(exact(score) ** 2, Fraction(1))


def en_signal(score: float) -> Signal:
    """Signal of an En score given as a number.

    ISO 13528: -1.0 < En < 1.0 acceptable, |En| ≥ 1.0 action. At exactly 1.0
    this is action (ISO/IEC 17043 words it differently; the project takes 13528).
    """
    return _en_signal(exact(score) ** 2, Fraction(1))


def _signal(d2: Fraction, scale2: Fraction) -> Signal:
    # |d|/scale ≤ 2  ⇔  d² ≤ 4·scale², and so on: no square root, no rounding.
    if d2 <= 4 * scale2:
        return Signal.ACCEPTABLE
    if d2 < 9 * scale2:
        return Signal.WARNING
    return Signal.ACTION


def _en_signal(d2: Fraction, scale2: Fraction) -> Signal:
    # |En| < 1 acceptable; |En| = 1 exactly is action (ISO 13528).
    return Signal.ACCEPTABLE if d2 < scale2 else Signal.ACTION


_Decide = Callable[[Fraction, Fraction], Signal]


def _combined(d: Fraction, scale2: Fraction, name: str, decide: _Decide) -> Score:
    if scale2 == 0:
        raise PtError(f"{name} has a zero denominator: every uncertainty in it is 0")
    ratio2 = _float(d * d / scale2, name)
    magnitude = math.sqrt(ratio2)
    return Score(magnitude if d >= 0 else -magnitude, decide(d * d, scale2))


def _float(q: Fraction, name: str) -> float:
    try:
        v = float(q)
    except OverflowError:
        v = math.inf
    if not math.isfinite(v):
        raise PtError(f"{name} is too large to represent (values or scale out of range)")
    return v


def _positive(v: Number, name: str) -> Fraction:
    q = exact(v)
    if q <= 0:
        raise PtError(f"{name} must be greater than 0, got {v!r}")
    return q


def _non_negative(v: Number, name: str) -> Fraction:
    q = exact(v)
    if q < 0:
        raise PtError(f"{name} must not be negative, got {v!r}")
    return q
