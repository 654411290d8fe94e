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


def agrees(reported: float, ours: float, *, slack: float = 0.0) -> bool:
    """True when `ours`, rounded as `reported` was, could give `reported`.

    `slack` widens the band for imprecision that is not the reporter's rounding
    (see scoring: the precision to which Algorithm A fixes x* and s*); a few
    ulps more cover our own floating point.
    """
    return abs(reported - ours) <= allowed_difference(reported, ours, slack=slack)


def allowed_difference(reported: float, ours: float, *, slack: float = 0.0) -> float:
    """The band `agrees` uses, also quoted in messages."""
    return half_last_digit(reported) + slack + 1e-9 * max(1.0, abs(ours))
