"""Significant figures and rounding: when two numbers agree "up to rounding"."""

from __future__ import annotations

import math
from decimal import Decimal


def third_figure_unit(v: float) -> float:
    """Place value of the third significant figure of |v| (v != 0): 0.01 for 1.45."""
    return 10.0 ** (math.floor(math.log10(abs(v))) - 2)


def half_last_digit(reported: float) -> float:
    """Half a unit in the last decimal place a reported number shows.

    The number is read back as its shortest decimal form, so 1.23 allows 0.005
    and 2.0 allows 0.05 (a trailing zero in the export text is not seen: the
    JSON number 2.10 arrives as 2.1).
    """
    exponent = Decimal(repr(reported)).as_tuple().exponent
    if not isinstance(exponent, int):  # NaN or infinity: nothing rounds to it
        return 0.0
    return 0.5 * 10.0**exponent


def agrees(reported: float, ours: float) -> bool:
    """True when `ours`, rounded as `reported` was, could give `reported`."""
    return within(reported, ours, ours)


def within(reported: float, lo: float, hi: float) -> bool:
    """True when some value in [lo, hi], rounded as `reported` was, could give it.

    A few ulps more than the rounding cover our own floating point.
    """
    band = rounding_band(reported, lo, hi)
    return lo - band <= reported <= hi + band


def rounding_band(reported: float, lo: float, hi: float) -> float:
    """How far outside [lo, hi] `reported` may lie by rounding alone."""
    return half_last_digit(reported) + 1e-9 * max(1.0, abs(lo), abs(hi))
