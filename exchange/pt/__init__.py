"""Proficiency-testing statistics per ISO 13528:2022: Algorithm A, z, z′, ζ, En.

Pure Python. `score_round` is what the conversion pipeline calls; the pieces
are public so that a worked example can be checked step by step.
"""

from exchange.pt.errors import PtError
from exchange.pt.robust import CONVERGED, MIN_RESULTS, AlgorithmA, algorithm_a
from exchange.pt.scores import (
    Score,
    en_score,
    en_signal,
    signal,
    u_consensus,
    u_negligible,
    z_prime_score,
    z_score,
    zeta_score,
)
from exchange.pt.scoring import score_round

__all__ = [
    "CONVERGED",
    "MIN_RESULTS",
    "AlgorithmA",
    "PtError",
    "Score",
    "algorithm_a",
    "en_score",
    "en_signal",
    "score_round",
    "signal",
    "u_consensus",
    "u_negligible",
    "z_prime_score",
    "z_score",
    "zeta_score",
]
