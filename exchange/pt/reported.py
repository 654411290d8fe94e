"""Scores an export carried, checked against ours: they must agree up to rounding."""

from __future__ import annotations

from collections.abc import Mapping

from exchange.model.pt import PtResult
from exchange.pt.errors import PtError
from exchange.pt.figures import agrees, allowed_difference
from exchange.pt.inputs import REPORTED_SCORES
from exchange.pt.scores import Score


def check_reported(
    i: int,
    result: PtResult,
    ours: Mapping[str, Score | None],
    slack: Mapping[str, float],
    why_not: Mapping[str, str],
    rid: str,
) -> None:
    """Raise PtError when a reported score is not ours up to rounding.

    `ours` holds every score we can compute for the result (z′ even where u(x_pt)
    is negligible and it is not shown), `slack` the extra band per score, and
    `why_not` why a score we cannot compute is missing.
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
        band = slack.get(key, 0.0)
        if not agrees(reported, mine.value, slack=band):
            allowed = allowed_difference(reported, mine.value, slack=band)
            raise PtError(
                f"lab {result.lab}: reported {key} = {reported!r} disagrees with the computed "
                f"{key} = {mine.value:.6g} (difference {abs(reported - mine.value):.3g}, "
                f"rounding allows {allowed:.3g})",
                field=field,
                record_id=rid,
            )
