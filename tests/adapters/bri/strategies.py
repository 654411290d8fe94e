"""Hypothesis strategies for canonical records, kept inside what the bri schemas accept
(text without edge whitespace or line breaks, codes the code lists know)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import Any

from hypothesis import strategies as st

from exchange.model import GlpStatement, ProductCertificate, PtRound

CATEGORIES = ["0701", "0702", "0703", "0705", "0717", "0718", "0901", "0902", "0903", "0907",
              "1001", "1606", "2202", "2203"]  # fmt: skip
COUNTRIES = ["CN", "VN", "MY", "TH", "DE", "KR", "NZ", "AU", "ID"]

_word = st.text(
    st.characters(categories=("L", "N", "P", "S"), exclude_characters="\x00"),
    min_size=1,
    max_size=10,
)
text = st.lists(_word, min_size=1, max_size=4).map(" ".join)
"""One line of text, no whitespace at either end: what Text and ShortText accept."""
code = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,12}", fullmatch=True)
dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
finite = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0, exclude_min=True, allow_infinity=False)
signal = st.sampled_from(["acceptable", "warning", "action"])


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def party(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "name": draw(text),
        "nameEn": draw(_maybe(text)),
        "address": draw(_maybe(text)),
        "country": draw(st.sampled_from(COUNTRIES)),
    }


@st.composite
def certificates(draw: st.DrawFn) -> ProductCertificate:
    scheme = draw(st.sampled_from(["CCC", "CCC", "KC", "EESS"]))
    number = {
        "CCC": r"(19|20)[0-9]{2}[0-9]{2}[0-9]{4}[0-9]{6}",
        "KC": r"[A-Z]{2}[0-9]{5,8}-[0-9]{4,5}[A-Z]?",
        "EESS": r"[A-Z0-9][A-Z0-9/.\-]{2,20}",
    }[scheme]
    issue = draw(dates)
    expiry = draw(_maybe(st.integers(0, 3650).map(lambda d: issue + timedelta(days=d))))
    is_ccc = scheme == "CCC"
    data = {
        "scheme": scheme,
        "certNo": draw(st.from_regex(number, fullmatch=True)),
        "status": draw(st.sampled_from(["VALID", "SUSPENDED", "WITHDRAWN", "CANCELLED", "EXPIRED"])),
        "certBody": {
            "code": draw(_maybe(st.from_regex(r"[0-9]{2}", fullmatch=True))),
            "name": draw(text),
            "nameEn": draw(_maybe(text)),
        },
        "applicant": draw(party()),
        "manufacturer": draw(party() if is_ccc else _maybe(party())),
        "factories": draw(st.lists(party(), min_size=1 if is_ccc else 0, max_size=3)),
        "responsibleSupplier": None
        if is_ccc
        else draw(
            _maybe(
                st.fixed_dictionaries(
                    {
                        "name": text,
                        "address": _maybe(text),
                        "country": st.sampled_from(["AU", "NZ"]),
                        "supplierNumber": _maybe(st.from_regex(r"[A-Z][0-9]{1,8}", fullmatch=True)),
                        "taxId": _maybe(st.from_regex(r"[0-9]{3} [0-9]{3} [0-9]{3}", fullmatch=True)),
                    }
                )
            )
        ),
        "product": {
            "name": draw(text),
            "nameEn": draw(_maybe(text)),
            "category": draw(st.sampled_from(CATEGORIES)),
            "models": draw(st.lists(text, min_size=1, max_size=4)),
            "hsCode": draw(_maybe(st.from_regex(r"[0-9]{6,10}", fullmatch=True))),
            "brands": draw(st.lists(text, max_size=2)),
        },
        "standards": draw(st.lists(text, min_size=1, max_size=3)),
        "issueDate": issue,
        "expiryDate": expiry,
        "testReports": draw(
            st.lists(
                st.fixed_dictionaries({"reportNo": text, "lab": text, "labAccreditation": _maybe(text)}),
                max_size=2,
            )
        ),
        "history": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "date": dates,
                        "status": st.sampled_from(["VALID", "SUSPENDED", "EXPIRED"]),
                        "reason": _maybe(text),
                    }
                ),
                max_size=3,
            )
        ),
    }
    return ProductCertificate.model_validate(data)


def _days_after(start: date, days: int) -> date:
    return start + timedelta(days=days)


@st.composite
def glp_statements(draw: st.DrawFn) -> GlpStatement:
    areas = draw(st.lists(st.integers(1, 9), min_size=1, max_size=9, unique=True))
    inspections = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(dates)
        end = draw(_maybe(st.integers(0, 10).map(partial(_days_after, start))))
        inspections.append(
            {"date": start, "endDate": end, "type": draw(st.sampled_from(["FULL", "RE-I", "FAC"]))}
        )
    data = {
        "facility": draw(party()),
        "authority": draw(text),
        "inspections": inspections,
        "areas": areas,
        "otherArea": draw(text) if 9 in areas else None,
        "status": draw(st.sampled_from(["IC", "NIC", "PEN", "RFP"])),
        "studyAudits": [
            {"studyId": f"SECRET-STUDY-{i}-{draw(code)}", "requestedBy": f"SECRET-REQUESTER-{i}"}
            for i in range(draw(st.integers(0, 3)))
        ],
        "statementDate": draw(dates),
    }
    return GlpStatement.model_validate(data)


@st.composite
def pt_rounds(draw: st.DrawFn) -> PtRound:
    """Scored rounds built by hand: the format carries scores, it does not check them."""
    labs = draw(st.lists(code, min_size=1, max_size=5, unique=True))
    results, scored = [], []
    for lab in labs:
        value = draw(_maybe(finite))
        remark = draw(text) if value is None else draw(_maybe(text))
        k = draw(_maybe(positive))
        results.append(
            {
                "lab": lab,
                "value": value,
                "u": draw(_maybe(positive)),
                "U": draw(positive) if k is not None else None,
                "k": k,
                "remark": remark,
            }
        )
        scores = {
            s: draw(_maybe(finite)) if value is not None else None for s in ("z", "zPrime", "zeta", "En")
        }
        scored.append(
            {
                "lab": lab,
                "value": value,
                **scores,
                "signals": {s: draw(signal) if v is not None else None for s, v in scores.items()},
                "remark": draw(_maybe(text)),
            }
        )
    method = draw(st.sampled_from(["formulation", "reference", "consensus"]))
    sigma = draw(st.sampled_from(["fixed", "robust"]))
    k = draw(_maybe(positive))
    data = {
        "provider": {
            "name": draw(text),
            "nameEn": draw(_maybe(text)),
            "accreditation": draw(_maybe(text)),
        },
        "scheme": draw(code),
        "round": draw(code),
        "matrix": draw(text),
        "measurand": draw(text),
        "unit": draw(text),
        "assigned": {
            "method": method,
            "value": None if method == "consensus" else draw(finite),
            "u": draw(_maybe(positive)),
            "U": draw(positive) if k is not None else None,
            "k": k,
        },
        "sigmaPt": {
            "method": sigma,
            "value": draw(positive) if sigma == "fixed" else draw(_maybe(positive)),
        },
        "results": results,
        "scoring": {
            "assigned": {
                "value": draw(finite),
                "u": draw(_maybe(finite)),
                "method": method,
                "uNegligible": draw(_maybe(st.booleans())),
            },
            "sigmaPt": {"value": draw(positive), "method": sigma},
            "algorithmA": draw(
                _maybe(
                    st.fixed_dictionaries({"mean": finite, "sd": finite, "iterations": st.integers(0, 50)})
                )
            ),
            "participants": draw(st.integers(0, len(labs))),
            "results": scored,
        },
    }
    return PtRound.model_validate(data)


def public_view(record: Any) -> Any:
    """What the bri feed carries of a record: the fields it leaves out, emptied."""
    if isinstance(record, ProductCertificate):
        supplier = record.responsible_supplier
        return record.model_copy(
            update={
                "test_reports": [],
                "responsible_supplier": supplier and supplier.model_copy(update={"tax_id": None}),
            }
        )
    if isinstance(record, GlpStatement):
        return record.model_copy(update={"study_audits": []})
    if isinstance(record, PtRound):
        hidden = dict.fromkeys(("u", "expanded_u", "k", "z", "z_prime", "zeta", "en"))
        return record.model_copy(update={"results": [r.model_copy(update=hidden) for r in record.results]})
    raise TypeError(type(record))
