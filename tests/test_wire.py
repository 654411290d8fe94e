"""What crosses the conversion-process boundary comes back equal, through the constructor."""

from __future__ import annotations

import pickle

from exchange.model import Kind
from exchange.pipeline import Conversion, Converted, OutOfScope
from exchange.service.offload import Outcome


def _outcome() -> Outcome:
    doc = Converted(
        "bri", Kind.CCC, "2019010907000001", b"a.b.c", ".jsonld", "application/vc+jwt", "ab" * 32,
        "suspended", "urn:uuid:00000000-0000-5000-8000-000000000000",
    )  # fmt: skip
    skipped = OutOfScope("kr", Kind.CCC, "2019010907000001", "not an E&E category")
    conversion = Conversion("2019010907000001", [doc], [skipped], [])
    return Outcome(conversion=conversion, ledger_row=("2019010907000001", "VALID"), record_id="x")


def test_an_outcome_survives_pickling_equal() -> None:
    outcome = _outcome()
    back = pickle.loads(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == outcome
    assert back.conversion is not None and back.conversion.converted[0].kind is Kind.CCC


def test_pickling_goes_through_the_constructor() -> None:
    doc = _outcome().conversion.converted[0]  # type: ignore[union-attr]
    rebuild, args = doc.__reduce__()
    assert rebuild is Converted
    assert args == (
        "bri",
        Kind.CCC,
        "2019010907000001",
        b"a.b.c",
        ".jsonld",
        "application/vc+jwt",
        "ab" * 32,
        "suspended",
        "urn:uuid:00000000-0000-5000-8000-000000000000",
    )
