"""Scores an export carried, checked against ours: they must agree up to rounding."""

from __future__ import annotations

from collections.abc import Mapping

from exchange.model.pt import PtResult
from exchange.pt.errors import PtError
from exchange.pt.figures import rounding_band, within
from exchange.pt.inputs import REPORTED_SCORES
from exchange.pt.scores import Score


def check_reported(
    i: int,
    result: PtResult,
    ours: Mapping[str, Score | None],
    ranges: Mapping[str, tuple[float, float]],
    why_not: Mapping[str, str],
    rid: str,
) -> None:
    """Raise PtError when a reported score is not ours up to rounding.

    `ours` holds every score we can compute for the result (z′ even where u(x_pt)
    is negligible and it is not shown); `ranges` the span a provider following
    the standard could get for a score, where that is more than our one value
    (scores against a consensus: see scoring._nearby_bases); `why_not` says why
    a score we cannot compute is missing.
    """
    for key, attr in REPORTED_SCORES:
        reported: float | None = getattr(result, attr)
        if reported is None:
            continue
        field = f"results[{i}].{key}"
        mine = ours.get(key)
        if mine is None:
            reason = why_not.get(key, "it cannot be computed")
            raise PtError(
                f"lab {result.lab}: the export reports {key} = {reported!r}, but {reason}",
                field=field,
                record_id=rid,
            )
        lo, hi = ranges.get(key, (mine.value, mine.value))
        if within(reported, lo, hi):
            continue
        band = rounding_band(reported, lo, hi)
        span = "" if lo == hi else f"; where Algorithm A stops allows {lo:.6g} to {hi:.6g}"
        raise PtError(
            f"lab {result.lab}: reported {key} = {reported!r} disagrees with the computed "
            f"{key} = {mine.value:.6g} (rounding allows {band:.2g}{span})",
            field=field,
            record_id=rid,
        )
