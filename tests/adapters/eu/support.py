"""Helpers shared by the EU and KR format tests: hostile inputs, a format built from an
edited copy of a partner's mappings, and hypothesis strategies for canonical records
whose text stays inside the partner XSDs' patterns."""

from __future__ import annotations

import re
import shutil
import string
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from exchange.formats.xml import XmlPartnerFormat
from exchange.model import GlpStatement, PtRound
from exchange.resources import mapping_path
from tests import canonical_samples as samples

# -- hostile input ---------------------------------------------------------------

HOSTILE: dict[str, bytes] = {
    "xxe": (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'),
    "entity-expansion": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
        b'<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
        b"<lolz>&lol4;</lolz>"
    ),
    "deep-nesting": b"<a>" * 100 + b"</a>" * 100,
    "ten-megabytes": b"<a>" + b"x" * (10 * 1024 * 1024) + b"</a>",
    "not-xml": b"\xff\xfe\x00garbage",
}

LINE_COLUMN = re.compile(r"^\d+:\d+")


def edited_format(partner: str, tmp_path: Path, edit: Callable[[str], str]) -> XmlPartnerFormat:
    """The partner's format built from a copy of its mappings whose codes.toml `edit` changed.

    Lets a test remove one code from a list without touching the shipped mappings.
    """
    target = tmp_path / partner
    shutil.copytree(mapping_path(partner), target)
    codes = target / "codes.toml"
    before = codes.read_text(encoding="utf-8")
    after = edit(before)
    assert after != before, "the edit changed nothing"
    codes.write_text(after, encoding="utf-8")
    return XmlPartnerFormat.from_manifest(partner, target / "format.toml")


# -- strategies ------------------------------------------------------------------

# Letters, digits, punctuation and symbols of any script (no control, format or
# separator characters but the plain space), so every value matches \S(.*\S)?.
_ALPHABET = st.characters(codec="utf-8", categories=("L", "N", "P", "S"), include_characters=" ")


def text(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(_ALPHABET, min_size=1, max_size=max_size).map(str.strip).filter(bool)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


DATES = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
FINITE = st.floats(allow_nan=False, allow_infinity=False)
POSITIVE = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False)
IDENTIFIER = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}", fullmatch=True)
LAB_CODE = st.text(string.ascii_uppercase + string.digits + "-", min_size=1, max_size=8)


def party(countries: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"name": text(), "country": st.sampled_from(countries)},
        optional={"nameEn": text(), "address": text(80)},
    )


@st.composite
def glp_statements(draw: st.DrawFn, countries: list[str]) -> GlpStatement:
    areas = draw(st.lists(st.integers(1, 9), min_size=1, max_size=9, unique=True))
    inspections = []
    for _ in range(draw(st.integers(1, 4))):
        start = draw(DATES)
        days = draw(maybe(st.integers(0, 30)))
        end = None if days is None else start + timedelta(days=days)
        inspections.append(
            {"date": start, "endDate": end, "type": draw(st.sampled_from(["FULL", "RE-I", "FAC"]))}
        )
    audits = draw(st.lists(st.fixed_dictionaries({"studyId": text(), "requestedBy": text()}), max_size=3))
    return GlpStatement.model_validate(
        {
            "facility": draw(party(countries)),
            "authority": draw(text()),
            "inspections": inspections,
            "areas": areas,
            "otherArea": draw(text(100)) if 9 in areas else None,
            "status": draw(st.sampled_from(["IC", "NIC", "PEN", "RFP"])),
            "studyAudits": audits,
            "statementDate": draw(DATES),
        }
    )


@st.composite
def _pt_result(draw: st.DrawFn, lab: str) -> dict[str, Any]:
    value = draw(maybe(FINITE))
    remark = draw(text()) if value is None else draw(maybe(text()))
    result: dict[str, Any] = {
        "lab": lab,
        "value": value,
        "remark": remark,
        "u": draw(maybe(POSITIVE)),
    }
    if draw(st.booleans()):
        result["U"], result["k"] = draw(POSITIVE), draw(POSITIVE)
    else:
        result["k"] = draw(maybe(POSITIVE))
    for score in ("z", "zPrime", "zeta", "En"):
        result[score] = draw(maybe(FINITE))
    return result


SIGNAL = maybe(st.sampled_from(["acceptable", "warning", "action"]))


@st.composite
def _scoring(draw: st.DrawFn, labs: list[str]) -> dict[str, Any]:
    scores = []
    for lab in labs:
        scores.append(
            {
                "lab": lab,
                "value": draw(maybe(FINITE)),
                "z": draw(maybe(FINITE)),
                "zPrime": draw(maybe(FINITE)),
                "zeta": draw(maybe(FINITE)),
                "En": draw(maybe(FINITE)),
                "signals": {
                    "z": draw(SIGNAL),
                    "zPrime": draw(SIGNAL),
                    "zeta": draw(SIGNAL),
                    "En": draw(SIGNAL),
                },
                "remark": draw(maybe(text(100))),
            }
        )
    algorithm_a = draw(
        maybe(st.fixed_dictionaries({"mean": FINITE, "sd": FINITE, "iterations": st.integers(0, 500)}))
    )
    return {
        "assigned": {
            "value": draw(FINITE),
            "u": draw(maybe(FINITE)),
            "method": draw(st.sampled_from(["formulation", "reference", "consensus"])),
            "uNegligible": draw(maybe(st.booleans())),
        },
        "sigmaPt": {"value": draw(POSITIVE), "method": draw(st.sampled_from(["fixed", "robust"]))},
        "algorithmA": algorithm_a,
        "participants": draw(st.integers(0, 10000)),
        "results": scores,
    }


@st.composite
def pt_rounds(draw: st.DrawFn) -> PtRound:
    labs = draw(st.lists(LAB_CODE, min_size=1, max_size=6, unique=True))
    method = draw(st.sampled_from(["formulation", "reference", "consensus"]))
    assigned: dict[str, Any] = {"method": method, "u": draw(maybe(POSITIVE))}
    if method != "consensus":
        assigned["value"] = draw(FINITE)
    if draw(st.booleans()):
        assigned["U"], assigned["k"] = draw(POSITIVE), draw(POSITIVE)
    sigma_method = draw(st.sampled_from(["fixed", "robust"]))
    sigma = {
        "method": sigma_method,
        "value": draw(POSITIVE if sigma_method == "fixed" else maybe(POSITIVE)),
    }
    return PtRound.model_validate(
        {
            "provider": draw(
                st.fixed_dictionaries({"name": text()}, optional={"nameEn": text(), "accreditation": text()})
            ),
            "scheme": draw(IDENTIFIER),
            "round": draw(IDENTIFIER),
            "matrix": draw(text()),
            "measurand": draw(text()),
            "unit": draw(text(10)),
            "assigned": assigned,
            "sigmaPt": sigma,
            "results": [draw(_pt_result(lab)) for lab in labs],
            "scoring": draw(maybe(_scoring(labs))),
        }
    )


_NUMBER_SHAPES = {"CCC": r"(19|20)[0-9]{14}", "KC": r"[A-Z]{2}[0-9]{5,8}-[0-9]{4,5}[A-Z]?"}


def cert_numbers(scheme: str) -> st.SearchStrategy[str]:
    """ASCII numbers with the structure the canonical model checks for the scheme."""
    return st.from_regex(_NUMBER_SHAPES[scheme], fullmatch=True)


# -- samples -------------------------------------------------------------------

CONSENSUS_RESULTS = [
    {"lab": f"L{i:02d}", "value": v, "U": 0.5, "k": 2}
    for i, v in enumerate([10.1, 10.3, 9.8, 10.0, 10.2, 12.5, 9.9], start=1)
] + [{"lab": "L08", "value": None, "remark": "<LOQ"}]


def pt_samples() -> dict[str, PtRound]:
    """Declared, scored (reference and consensus) and reported-score rounds."""
    return {
        "declared": samples.pt_round(),
        "scored": samples.scored_pt_round(),
        "consensus-scored": samples.scored_pt_round(
            assigned={"method": "consensus"},
            sigmaPt={"method": "robust"},
            results=CONSENSUS_RESULTS,
        ),
        "reported-scores": samples.pt_round(
            results=[
                {"lab": "L01", "value": 0.053, "U": 0.007, "k": 2, "z": 1.36, "En": 0.83},
                {"lab": "L02", "value": 0.041, "u": 0.004, "zPrime": -0.39, "zeta": -0.52},
            ]
        ),
    }
