"""What is hashed: canonical JSON, the fast splice that must equal it, entry validation."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.audit import AuditEntry, AuditEvent, canonical_json, sha256_hex
from exchange.audit.chain import (
    GENESIS,
    body_json,
    link,
    link_hash,
    parse_time,
    prepare,
    time_iso,
)
from exchange.audit.verify import ProblemKind, verify_rows

LIFECYCLE = [
    "RECEIVED",
    "REJECTED",
    "CONVERTED",
    "VALIDATED",
    "SIGNED",
    "READY_TO_SEND",
    "SEND_ENQUEUED",
    "SEND_IN_PROGRESS",
    "WAITING_FOR_RECEIPT",
    "SEND_ATTEMPT_FAILED",
    "WAITING_FOR_RETRY",
    "ACKNOWLEDGED",
    "ACKNOWLEDGED_WITH_WARNING",
    "SEND_FAILURE",
    "DEAD_LETTERED",
    "REPLAYED",
    "DOWNLOADED",
    "DELIVERED_DOMESTIC",
    "SUPERSEDED",
]

text = st.text(st.characters(exclude_categories=["Cs"]))  # no lone surrogates
opt_text = st.none() | text


def test_lifecycle_vocabulary() -> None:
    assert [e.value for e in AuditEvent] == LIFECYCLE
    assert AuditEvent("SIGNED") is AuditEvent.SIGNED


def test_sha256_hex() -> None:
    assert sha256_hex(b"abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_canonical_json() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": "é"}}) == '{"a":{"c":"é","d":[1,2]},"b":1}'
    assert canonical_json({"t": datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "d": date(2026, 1, 2)}) == (
        '{"d":"2026-01-02","t":"2026-01-02T03:04:00+00:00"}'
    )

    class Colour(Enum):
        RED = "red"

    assert canonical_json({"c": Colour.RED, "s": {"b", "a"}}) == '{"c":"red","s":["a","b"]}'
    assert canonical_json({"z": float("nan"), "w": [float("inf")]}) == '{"w":["inf"],"z":"nan"}'


@given(
    time=text,
    event=text,
    message_id=opt_text,
    record_id=opt_text,
    partner=opt_text,
    actor=text,
    details=st.dictionaries(text, st.none() | st.integers() | st.floats(allow_nan=False) | text),
    doc_sha256=opt_text,
)
def test_body_splice_is_canonical_json(details: dict[str, Any], **fields: Any) -> None:
    spliced = body_json(details=canonical_json(details), **fields)
    assert spliced == canonical_json({**fields, "details": details})
    assert json.loads(spliced) == json.loads(canonical_json({**fields, "details": details}))


@given(body=st.dictionaries(text, opt_text), seq=st.integers(1, 2**62))
def test_link_hash_is_sha256_of_canonical_json(body: dict[str, Any], seq: int) -> None:
    prev = sha256_hex(b"prev")
    expected = canonical_json({"entry": body, "prev_hash": prev, "seq": seq})
    got = link_hash(canonical_json(body).encode(), prev, seq)
    assert got == hashlib.sha256(expected.encode()).hexdigest()


@given(st.integers(0, 253402300799_999999))  # up to 9999-12-31T23:59:59.999999Z
def test_time_text_round_trip(us: int) -> None:
    t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    assert time_iso(us) == t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_time(time_iso(us)) == t


def test_time_text_across_a_second_boundary() -> None:
    assert time_iso(1_999_999) == "1970-01-01T00:00:01.999999Z"
    assert time_iso(2_000_000) == "1970-01-01T00:00:02.000000Z"
    assert time_iso(1_000_000) == "1970-01-01T00:00:01.000000Z"


def test_entry_validation() -> None:
    assert AuditEntry("RECEIVED").event is AuditEvent.RECEIVED  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AuditEntry("ARRIVED")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="doc_sha256"):
        AuditEntry(AuditEvent.SIGNED, doc_sha256="ABC")
    with pytest.raises(ValueError, match="doc_sha256"):
        AuditEntry(AuditEvent.SIGNED, doc_sha256=sha256_hex(b"x").upper())
    with pytest.raises(ValueError, match="actor"):
        AuditEntry(AuditEvent.SIGNED, actor="")


def test_details_are_taken_at_append_time() -> None:
    details = {"attempt": 1}
    p = prepare(AuditEntry(AuditEvent.SEND_ATTEMPT_FAILED, details=details), 0)
    details["attempt"] = 2
    assert p.details == '{"attempt":1}'


def test_unencodable_entry_fails_at_append() -> None:
    with pytest.raises(UnicodeEncodeError):
        prepare(AuditEntry(AuditEvent.RECEIVED, record_id="bad \udc80"), 0)


def test_link_continues_from_the_head() -> None:
    batch = [prepare(AuditEntry(AuditEvent.RECEIVED, message_id=str(i)), i) for i in range(3)]
    rows = link(batch, 41, "a" * 64)
    assert [r.seq for r in rows] == [42, 43, 44]
    assert rows[0].prev_hash == "a" * 64
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert all(r.computed_hash() == r.hash for r in rows)


def test_verify_rows_without_a_store() -> None:
    rows = link([prepare(AuditEntry(AuditEvent.RECEIVED), i) for i in range(4)], 0, GENESIS)
    by_hash = {r.hash: r for r in rows}
    assert verify_rows(rows, by_hash.get).ok
    assert verify_rows([], by_hash.get).head_hash == GENESIS
    # A chain that does not start at 1 had its start cut off.
    rest = {r.hash: r for r in rows[2:]}
    report = verify_rows(rows[2:], rest.get)
    assert report.problem is not None and report.problem.kind is ProblemKind.MISSING
    # A row numbered before the start is a forgery.
    report = verify_rows([rows[0]._replace(seq=0), *rows[1:]], by_hash.get)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (ProblemKind.INSERTED, 0)
