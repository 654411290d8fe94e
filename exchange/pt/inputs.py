"""What a round gives, checked and read: values, uncertainties, σ_pt.

The canonical model already refuses most of this on load; the checks are
repeated here because a round can also be built or copied without validation
(model_construct, model_copy), and a wrong input would still yield a number.
"""

from __future__ import annotations

import math
from fractions import Fraction

from exchange.model.pt import AssignedMethod, PtRound, SigmaMethod
from exchange.pt.errors import PtError
from exchange.pt.figures import agrees
from exchange.pt.scores import exact

REPORTED_SCORES = (("z", "z"), ("zPrime", "z_prime"), ("zeta", "zeta"), ("En", "en"))
"""(JSON key, attribute) of the scores an export may carry on a result."""


def check_round(round: PtRound) -> None:
    """Raise PtError, naming the field, for any input no score may be computed from."""
    rid = round.record_id
    a = round.assigned
    if a.method is not AssignedMethod.CONSENSUS:
        if a.value is None:
            raise PtError(
                f"assigned.value is required when assigned.method is {a.method.value}",
                field="assigned.value",
                record_id=rid,
            )
        _finite(a.value, "assigned.value", rid, "assigned value")
    _uncertainty_inputs(a.u, a.expanded_u, a.k, "assigned", rid, "assigned value")
    s = round.sigma_pt
    if s.method is SigmaMethod.FIXED and (s.value is None or not math.isfinite(s.value) or s.value <= 0):
        raise PtError(
            f"σ_pt must be a finite number greater than 0, got {s.value!r}",
            field="sigmaPt.value",
            record_id=rid,
        )
    for i, r in enumerate(round.results):
        who = f"lab {r.lab}"
        if r.value is not None:
            _finite(r.value, f"results[{i}].value", rid, who)
        _uncertainty_inputs(r.u, r.expanded_u, r.k, f"results[{i}]", rid, who)
        for key, attr in REPORTED_SCORES:
            reported = getattr(r, attr)
            if reported is not None:
                _finite(reported, f"results[{i}].{key}", rid, f"{who}: reported {key}")


def standard_uncertainty(
    u: float | None, expanded: float | None, k: float | None, field: str, rid: str, who: str
) -> Fraction | None:
    """u, or U/k; when both are given they must agree up to the rounding of u."""
    if expanded is None or k is None:
        return None if u is None else exact(u)
    from_expanded = exact(expanded) / exact(k)
    try:
        finite = math.isfinite(float(from_expanded))
    except OverflowError:
        finite = False
    if not finite:  # scores against it would be a silent 0 ("acceptable"), not a finding
        raise PtError(
            f"{who}: U/k = {expanded!r}/{k!r} is too large to represent as a number; not scored",
            field=f"{field}.U",
            record_id=rid,
        )
    if u is None:
        return from_expanded
    if not agrees(u, float(from_expanded)):
        raise PtError(
            f"{who}: u = {u!r} disagrees with U/k = {expanded!r}/{k!r} = {float(from_expanded):.6g}",
            field=f"{field}.u",
            record_id=rid,
        )
    return exact(u)


def _uncertainty_inputs(
    u: float | None, expanded: float | None, k: float | None, field: str, rid: str, who: str
) -> None:
    for name, v, what in (
        ("u", u, "standard uncertainty u"),
        ("U", expanded, "expanded uncertainty U"),
        ("k", k, "coverage factor k"),
    ):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise PtError(
                f"{who}: {what} must be a finite number greater than 0, got {v!r}",
                field=f"{field}.{name}",
                record_id=rid,
            )
    if expanded is not None and k is None:
        raise PtError(f"{who}: U needs its coverage factor k", field=f"{field}.k", record_id=rid)


def _finite(v: float, field: str, rid: str, who: str) -> None:
    if not math.isfinite(v):
        raise PtError(f"{who}: must be a finite number, got {v!r}", field=field, record_id=rid)
