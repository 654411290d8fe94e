"""score_round: a PT round in, the same round with its ISO 13528 scores out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fractions import Fraction

from exchange.model.pt import (
    AssignedMethod,
    PtResult,
    PtRound,
    PtScoring,
    ResultScore,
    ScoredAssigned,
    ScoredSigma,
    ScoreSignals,
    SigmaMethod,
)
from exchange.pt.errors import PtError
from exchange.pt.figures import third_figure_unit
from exchange.pt.inputs import REPORTED_SCORES, check_round, standard_uncertainty
from exchange.pt.reported import check_reported
from exchange.pt.robust import CONVERGED, AlgorithmA, algorithm_a, check_tolerance
from exchange.pt.scores import (
    EN_COVERAGE,
    Score,
    en_score,
    exact,
    u_consensus,
    u_negligible,
    z_prime_score,
    z_score,
    zeta_score,
)

CENSORED_NOTE = "censored: not scored, not used in the consensus"
NO_UNCERTAINTY_NOTE = "no uncertainty reported: no ζ or En score"
NO_ASSIGNED_U = "the assigned value has no stated uncertainty"


@dataclass(frozen=True, slots=True)
class Basis:
    """What every result is scored against: x_pt, u(x_pt) (if known), σ_pt."""

    x_pt: Fraction
    u_pt: Fraction | None
    sigma: Fraction


def score_round(round: PtRound, *, tolerance: float | None = None) -> PtRound:
    """Return a copy of `round` with `.scoring` filled per ISO 13528:2022.

    Censored results (value null) are kept and reported but never scored and
    never used in the consensus. Scores the export carried are checked against
    ours; any disagreement beyond rounding raises PtError with both values.
    `tolerance` tightens Algorithm A's stop (see robust.algorithm_a).
    """
    rid = round.record_id
    check_tolerance(tolerance)
    check_round(round)
    values = [r.value for r in round.results if r.value is not None]
    algo = _algorithm_a(round, values, tolerance)
    basis = _basis(round, algo)
    negligible = None if basis.u_pt is None else u_negligible(basis.u_pt, basis.sigma)
    reported = any(getattr(r, a) is not None for r in round.results for _, a in REPORTED_SCORES)
    nearby = _nearby_bases(round, algo, basis, values) if algo is not None and reported else []

    results: list[ResultScore] = []
    for i, r in enumerate(round.results):
        with _context(rid, f"results[{i}]", r.lab):
            u_x = standard_uncertainty(r.u, r.expanded_u, r.k, f"results[{i}]", rid, f"lab {r.lab}")
            ours = {} if r.value is None else _scores(exact(r.value), u_x, basis)
            if any(getattr(r, a) is not None for _, a in REPORTED_SCORES):
                ranges = _ranges(exact(r.value), u_x, ours, nearby) if r.value is not None else {}
                check_reported(i, r, ours, ranges, _why_not(r, u_x, basis), rid)
            results.append(_result_score(r, u_x, ours, show_z_prime=negligible is False))

    scoring = PtScoring(
        assigned=ScoredAssigned(
            value=float(basis.x_pt),
            u=None if basis.u_pt is None else float(basis.u_pt),
            method=round.assigned.method,
            u_negligible=negligible,
        ),
        sigma_pt=ScoredSigma(value=float(basis.sigma), method=round.sigma_pt.method),
        algorithm_a=None if algo is None else algo.to_model(),
        participants=len(values),
        results=results,
    )
    return round.model_copy(update={"scoring": scoring})


def _by_consensus(round: PtRound) -> bool:
    return round.assigned.method is AssignedMethod.CONSENSUS


def _algorithm_a(round: PtRound, values: list[float], tolerance: float | None) -> AlgorithmA | None:
    """Run Algorithm A when the assigned value or σ_pt comes from the participants."""
    needs = []
    if _by_consensus(round):
        needs.append("assigned.method is consensus")
    if round.sigma_pt.method is SigmaMethod.ROBUST:
        needs.append("sigmaPt.method is robust")
    if not needs:
        if not values:
            raise PtError(
                f"no result has a value to score (all {len(round.results)} are censored)",
                field="results",
                record_id=round.record_id,
            )
        return None
    try:
        return algorithm_a(values, tolerance=tolerance)
    except PtError as e:
        raise PtError(f"{' and '.join(needs)}: {e.reason}", field="results", record_id=round.record_id) from e


def _basis(round: PtRound, algo: AlgorithmA | None) -> Basis:
    a = round.assigned
    rid = round.record_id
    u_pt: Fraction | None
    if algo is not None and _by_consensus(round):
        # ISO 13528 C.3: u(x_pt) = 1.25·s*/√p for a consensus value.
        x_pt, u_pt = exact(algo.mean), exact(u_consensus(algo.sd, algo.p))
    else:
        assert a.value is not None  # check_round saw to it
        x_pt = exact(a.value)
        u_pt = standard_uncertainty(a.u, a.expanded_u, a.k, "assigned", rid, "assigned value")
    if round.sigma_pt.method is SigmaMethod.ROBUST:
        assert algo is not None
        sigma = exact(algo.sd)  # σ_pt = s*, the robust SD of the participants
    else:
        assert round.sigma_pt.value is not None
        sigma = exact(round.sigma_pt.value)
    return Basis(x_pt, u_pt, sigma)


def _scores(x: Fraction, u_x: Fraction | None, basis: Basis) -> dict[str, Score | None]:
    """Every score that can be computed for x (keys as in the JSON)."""
    z = z_score(x, basis.x_pt, basis.sigma)
    if basis.u_pt is None:
        return {"z": z, "zPrime": None, "zeta": None, "En": None}
    z_prime = z_prime_score(x, basis.x_pt, basis.sigma, basis.u_pt)
    if u_x is None:
        return {"z": z, "zPrime": z_prime, "zeta": None, "En": None}
    zeta = zeta_score(x, u_x, basis.x_pt, basis.u_pt)
    en = en_score(x, EN_COVERAGE * u_x, basis.x_pt, EN_COVERAGE * basis.u_pt)
    return {"z": z, "zPrime": z_prime, "zeta": zeta, "En": en}


def _result_score(
    r: PtResult, u_x: Fraction | None, ours: dict[str, Score | None], *, show_z_prime: bool
) -> ResultScore:
    notes = [r.remark] if r.remark else []
    if r.value is None:
        notes.append(CENSORED_NOTE)
    elif u_x is None:
        notes.append(NO_UNCERTAINTY_NOTE)
    z, zeta, en = ours.get("z"), ours.get("zeta"), ours.get("En")
    # ISO 13528 9.5: z′ is the score to use when u(x_pt) is not negligible
    # (u(x_pt) ≥ 0.3·σ_pt). Where it is negligible z′ ≈ z and is not reported,
    # so a reader never has two near-identical scores to choose between.
    z_prime = ours.get("zPrime") if show_z_prime else None
    return ResultScore(
        lab=r.lab,
        value=r.value,
        z=None if z is None else z.value,
        z_prime=None if z_prime is None else z_prime.value,
        zeta=None if zeta is None else zeta.value,
        en=None if en is None else en.value,
        signals=ScoreSignals(
            z=None if z is None else z.signal,
            z_prime=None if z_prime is None else z_prime.signal,
            zeta=None if zeta is None else zeta.signal,
            en=None if en is None else en.signal,
        ),
        remark="; ".join(notes) or None,
    )


def _why_not(r: PtResult, u_x: Fraction | None, basis: Basis) -> dict[str, str]:
    if r.value is None:
        censored = "the result is censored (no value) and is not scored"
        return {key: censored for key, _ in REPORTED_SCORES}
    out = {}
    if basis.u_pt is None:
        out = {"zPrime": NO_ASSIGNED_U, "zeta": NO_ASSIGNED_U, "En": NO_ASSIGNED_U}
    elif u_x is None:
        out = {"zeta": "the result has no uncertainty", "En": "the result has no uncertainty"}
    return out


def _nearby_bases(round: PtRound, algo: AlgorithmA, basis: Basis, values: list[float]) -> list[Basis]:
    """Corners of the range a provider following the standard could have scored against.

    Algorithm A's x* and s* are only as definite as its stop: the standard's
    rule (third significant figure) leaves them about one unit there from
    where another reading of the rule stops, and where the iteration creeps
    it stops well short of the fixed point a tighter tolerance reaches. So the
    range spans the standard-rule result and the converged one, widened by one
    unit of the third figure (of s*, and of x* by its own third figure).
    """
    runs = [algo, algorithm_a(values)]
    with suppress(PtError):  # too slow to settle: the other two runs bound it
        runs.append(algorithm_a(values, tolerance=CONVERGED))
    unit_s = max(third_figure_unit(a.sd) for a in runs)
    unit_x = max([unit_s] + [third_figure_unit(a.mean) for a in runs if a.mean != 0])
    x_range = (min(a.mean for a in runs) - unit_x, max(a.mean for a in runs) + unit_x)
    s_range = (min(a.sd for a in runs) - unit_s, max(a.sd for a in runs) + unit_s)
    out = []
    for x_star in x_range:
        for s_star in s_range:
            if s_star <= 0:
                continue
            x_pt, u_pt = basis.x_pt, basis.u_pt
            if _by_consensus(round):
                x_pt, u_pt = exact(x_star), exact(u_consensus(s_star, algo.p))
            sigma = exact(s_star) if round.sigma_pt.method is SigmaMethod.ROBUST else basis.sigma
            out.append(Basis(x_pt, u_pt, sigma))
    return out


def _ranges(
    x: Fraction, u_x: Fraction | None, ours: dict[str, Score | None], nearby: list[Basis]
) -> dict[str, tuple[float, float]]:
    """For each score: the lowest and highest value over our basis and the nearby ones."""
    ranges = {key: (s.value, s.value) for key, s in ours.items() if s is not None}
    for other in nearby:
        for key, alt in _scores(x, u_x, other).items():
            if key in ranges and alt is not None:
                lo, hi = ranges[key]
                ranges[key] = (min(lo, alt.value), max(hi, alt.value))
    return ranges


@contextmanager
def _context(rid: str, field: str, lab: str) -> Iterator[None]:
    """Give errors from the pure score functions the round, field and lab they lack."""
    try:
        yield
    except PtError as e:
        if e.record_id is None:
            raise PtError(f"lab {lab}: {e.reason}", field=field, record_id=rid) from e
        raise
