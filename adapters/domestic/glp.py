"""Domestic GLP compliance statement -> GlpStatement (the shapes match almost 1:1)."""

from __future__ import annotations

from datetime import date
from typing import Any

from adapters.domestic.codes import country
from adapters.domestic.dates import optional_date, parse_date
from adapters.domestic.normalize import code
from adapters.domestic.parts import Obj, check_keys, clean, code_field, obj, party, with_id
from adapters.domestic.validation import validate
from exchange.errors import RecordError
from exchange.model import GlpStatement, Party

FIELDS = frozenset(
    {
        "facility",
        "authority",
        "inspections",
        "areas",
        "otherArea",
        "status",
        "studyAudits",
        "statementDate",
    }
)


def record_id(raw: Obj) -> str | None:
    """The id GlpStatement.record_id would give, when the record has what it needs.

    Built through the model's own property so the two can never disagree.
    """
    facility = raw.get("facility")
    if not isinstance(facility, dict):
        return None
    name, iso = facility.get("name"), facility.get("country")
    stated = raw.get("statementDate")
    if not (isinstance(name, str) and name.strip() and isinstance(iso, str)):
        return None
    iso = country(iso)
    try:
        when: date | None = optional_date(stated, "statementDate")
    except RecordError:
        return None
    if iso is None or when is None:
        return None
    fields: dict[str, Any] = {
        "facility": Party.model_construct(name=name.strip(), country=iso),
        "statement_date": when,
    }
    return GlpStatement.model_construct(**fields).record_id


def _inspections(value: object) -> object:
    if not isinstance(value, list):
        return value
    out = []
    for i, item in enumerate(value):
        entry = obj(item, f"inspections[{i}]")
        entry["date"] = parse_date(entry.get("date"), f"inspections[{i}].date")
        end = optional_date(entry.get("endDate"), f"inspections[{i}].endDate")
        if end is not None:
            entry["endDate"] = end
        code_field(entry, "type")
        out.append(entry)
    return out


def _areas(value: object) -> object:
    """Area numbers; a string "６" (full-width, as exports may have) becomes 6."""
    if not isinstance(value, list):
        return value
    out: list[object] = []
    for v in value:
        if isinstance(v, str) and code(v).isdigit():
            out.append(int(code(v)))
        else:
            out.append(v)
    return out


def to_statement(raw: Obj) -> GlpStatement:
    """The canonical GLP statement for one domestic record, or a RecordError."""
    rid = record_id(raw)
    try:
        check_keys(raw, FIELDS, "GLP")
        data = clean(raw)
        data["facility"] = party(raw.get("facility"), "facility")
        data["statementDate"] = parse_date(raw.get("statementDate"), "statementDate")
        if "inspections" in data:
            data["inspections"] = _inspections(data["inspections"])
        if "areas" in data:
            data["areas"] = _areas(data["areas"])
        if isinstance(data.get("studyAudits"), list):
            data["studyAudits"] = [obj(a, f"studyAudits[{i}]") for i, a in enumerate(data["studyAudits"])]
        code_field(data, "status")
        code_field(data, "authority")
        return validate(GlpStatement, data, record_id=rid)
    except RecordError as exc:
        raise with_id(exc, rid) from None
