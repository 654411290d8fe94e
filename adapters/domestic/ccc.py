"""Domestic CCC certificate (JSON shape of domestic-formats.md) -> ProductCertificate."""

from __future__ import annotations

from typing import Any

from adapters.domestic.codes import category, cert_status, code_lists
from adapters.domestic.dates import optional_date, parse_date, quick_date
from adapters.domestic.normalize import brief, code
from adapters.domestic.parts import (
    Obj,
    check_keys,
    clean,
    code_field,
    code_list,
    obj,
    objects,
    party,
    with_id,
)
from adapters.domestic.validation import MISSING, Loc, validate
from exchange.errors import RecordError
from exchange.model import CertStatus, ProductCertificate
from exchange.model.certificate import CCC_NUMBER

FIELDS = frozenset(
    {
        "certNo",
        "certStatus",
        "certBody",
        "applicant",
        "manufacturer",
        "factory",
        "product",
        "standards",
        "issueDate",
        "expiryDate",
        "testReports",
        "history",
    }
)
_STRUCTURE = "issue year 4, certification body 2, product class 4, sequence 6"


def cert_no(value: object) -> str:
    """The certificate number, NFKC-normalised and checked against the CCC structure."""
    if value.__class__ is str and value.isascii():  # the common case: already normal
        number = value.strip()
        if CCC_NUMBER.match(number):
            return number
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError(MISSING, field="certNo")
    if not isinstance(value, str):
        raise RecordError(
            f"expected the number as a string, got {type(value).__name__} {brief(repr(value))}",
            field="certNo",
        )
    number = code(value)
    if not CCC_NUMBER.match(number):
        if number.isascii() and number.isdigit() and len(number) != 16:
            why = f"has {len(number)} digits; a CCC number has 16 ({_STRUCTURE})"
        else:
            why = f"is not a CCC number: 16 digits expected ({_STRUCTURE})"
        rid = number if len(number) <= 40 else None  # 40: the model's longest number
        raise RecordError(f"{brief(number)} {why}", field="certNo", record_id=rid)
    return number


def status(value: object, field: str) -> CertStatus:
    """Canonical status of a domestic one (有效 暂停 撤销 注销 过期)."""
    if value.__class__ is str:  # the common case: exactly as the code list spells it
        found = code_lists().exact_status.get(value)
        if found is not None:
            return found
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError(MISSING, field=field)
    found = cert_status(value) if isinstance(value, str) else None
    if found is None:
        known = ", ".join(code_lists().status)
        shown = brief(repr(value))
        raise RecordError(f"{shown} is not a CCC status (expected one of {known})", field=field)
    return found


def _product(value: object) -> Obj:
    data = obj(value, "product")
    raw = data.get("category")
    if raw.__class__ is str:
        entry = category(raw)
        if entry is None:
            known = ", ".join(code_lists().categories)
            raise RecordError(
                f"{brief(code(raw))} is not a CCC catalogue code with a mapping yet (known: {known})",
                field="product.category",
            )
        data["category"] = entry.code
    code_field(data, "hsCode")
    if "models" in data:
        data["models"] = code_list(data["models"])
    return data


def _history(value: object) -> object:
    entries = objects(value, "history")
    if not isinstance(entries, list):
        return entries
    statuses = code_lists().exact_status
    for i, entry in enumerate(entries):
        # the field names are only spelt out when a value is bad
        when = entry.get("date")
        entry["date"] = quick_date(when) or parse_date(when, f"history[{i}].date")
        state = entry.get("status")
        found = statuses.get(state) if state.__class__ is str else None
        entry["status"] = found or status(state, f"history[{i}].status")
    return entries


def _test_reports(value: object) -> object:
    reports = objects(value, "testReports")
    if isinstance(reports, list):
        for report in reports:
            code_field(report, "reportNo")
            code_field(report, "labAccreditation")
    return reports


def _rename(loc: Loc) -> Loc:
    """Canonical location -> domestic: `status` is `certStatus`, `factories[0]` is `factory`."""
    head = loc[0] if loc else None
    if head == "status":
        return ("certStatus", *loc[1:])
    if head == "factories":
        return ("factory", *loc[2:])
    return loc


def to_certificate(raw: Obj) -> ProductCertificate:
    """The canonical certificate for one domestic record, or a RecordError naming the field."""
    number = cert_no(raw.get("certNo"))
    try:
        if not raw.keys() <= FIELDS:
            check_keys(raw, FIELDS, "CCC")
        issued = parse_date(raw.get("issueDate"), "issueDate")
        expires = optional_date(raw.get("expiryDate"), "expiryDate")
        if expires is not None and expires < issued:
            raise RecordError(f"{expires} is before issueDate {issued}", field="expiryDate")
        body = obj(raw.get("certBody"), "certBody")
        code_field(body, "code")
        data: dict[str, Any] = {
            "certNo": number,
            "status": status(raw.get("certStatus"), "certStatus"),
            "certBody": body,
            "applicant": party(raw.get("applicant"), "applicant"),
            "manufacturer": party(raw.get("manufacturer"), "manufacturer"),
            "factories": [party(raw.get("factory"), "factory")],
            "product": _product(raw.get("product")),
            "standards": code_list(raw.get("standards")) if "standards" in raw else None,
            "issueDate": issued,
        }
        if expires is not None:
            data["expiryDate"] = expires
        if raw.get("testReports") is not None:
            data["testReports"] = _test_reports(raw["testReports"])
        if raw.get("history") is not None:
            data["history"] = _history(raw["history"])
        values = data.values()
        if None in values or "" in values:  # blank reads as absent (clean() without a copy when none)
            data = clean(data)
        return validate(ProductCertificate, data, record_id=number, rename=_rename)
    except RecordError as exc:
        raise with_id(exc, number) from None
