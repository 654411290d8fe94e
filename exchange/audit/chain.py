"""Hash chaining: the one definition of what is hashed, shared by writers and `verify`.

Each entry's hash is SHA-256 over the canonical JSON (sorted keys, no whitespace,
UTF-8) of::

    {"entry": {actor, details, doc_sha256, event, message_id, partner, record_id, time},
     "prev_hash": <hash of the entry before, or GENESIS>, "seq": <position, from 1>}

The entry body is serialised once, when it is appended (cheap for the pipeline, and the
caller's later changes to `details` cannot leak in); linking at flush time only splices
`prev_hash` and `seq` around it. Because the sorted keys put "entry" before "prev_hash"
before "seq", the splice is exactly the canonical JSON of that object (tested).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from datetime import time as dtime
from enum import Enum
from typing import Any, NamedTuple, cast

from exchange.audit.entry import AuditEntry, StoredEntry
from exchange.audit.events import AuditEvent

GENESIS = "0" * 64
"""`prev_hash` of the first entry of a chain."""

_enc = json.encoder.encode_basestring  # the C encoder json.dumps uses with ensure_ascii=False


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256, the form of every hash in the audit trail."""
    return hashlib.sha256(data).hexdigest()


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity; keep them readable instead of refusing the entry."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept: the same value always gives the same text.

    Values JSON lacks become strings (datetimes as ISO 8601, enums as their value).
    """
    try:
        return json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_default,
        )
    except ValueError:
        return canonical_json(_finite(value))


def _opt(value: str | None) -> str:
    return "null" if value is None else _enc(value)


_second: tuple[int, str] = (-1, "")


def time_iso(us: int) -> str:
    """Microseconds since the epoch as the chain's time text (UTC, six digits, `Z`)."""
    global _second
    sec, frac = divmod(us, 1_000_000)
    cached = _second
    if cached[0] != sec:  # appends come in bursts within one second: format that part once
        cached = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
        _second = cached
    return f"{cached[1]}.{frac:06d}Z"


def parse_time(text: str) -> datetime:
    """Inverse of `time_iso` / `format_time`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def body_json(
    *,
    time: str,
    event: str,
    message_id: str | None,
    record_id: str | None,
    partner: str | None,
    actor: str,
    details: str,
    doc_sha256: str | None,
) -> str:
    """Canonical JSON of the entry body, with `details` already canonical JSON text."""
    return (
        f'{{"actor":{_enc(actor)},"details":{details},"doc_sha256":{_opt(doc_sha256)},'
        f'"event":{_enc(event)},"message_id":{_opt(message_id)},"partner":{_opt(partner)},'
        f'"record_id":{_opt(record_id)},"time":{_enc(time)}}}'
    )


def link_hash(body: bytes, prev_hash: str, seq: int) -> str:
    """The entry hash: canonical JSON of {"entry": body, "prev_hash": …, "seq": …}."""
    return hashlib.sha256(
        b'{"entry":' + body + b',"prev_hash":"' + prev_hash.encode() + b'","seq":%d}' % seq
    ).hexdigest()


class Prepared(NamedTuple):
    """An appended entry, serialised and waiting for its place in the chain."""

    time: str
    event: str
    message_id: str | None
    record_id: str | None
    partner: str | None
    actor: str
    details: str
    doc_sha256: str | None
    body: bytes
    us: int
    """`time` as microseconds since the epoch, as the store keeps it."""


class ChainRow(NamedTuple):
    """An entry exactly as stored: the texts that were hashed, and the hashes."""

    seq: int
    time: str
    event: str
    message_id: str | None
    record_id: str | None
    partner: str | None
    actor: str
    details: str
    doc_sha256: str | None
    prev_hash: str
    hash: str

    def body(self) -> bytes:
        return body_json(
            time=self.time,
            event=self.event,
            message_id=self.message_id,
            record_id=self.record_id,
            partner=self.partner,
            actor=self.actor,
            details=self.details,
            doc_sha256=self.doc_sha256,
        ).encode()

    def computed_hash(self, *, seq: int | None = None, prev_hash: str | None = None) -> str:
        """The hash this row should carry (optionally at another place in the chain)."""
        return link_hash(
            self.body(),
            self.prev_hash if prev_hash is None else prev_hash,
            self.seq if seq is None else seq,
        )

    def to_entry(self) -> StoredEntry:
        known = self.event in AuditEvent.__members__
        return StoredEntry(
            # An unknown event (only by tampering) stays the stored text, for all to see.
            event=AuditEvent(self.event) if known else cast(AuditEvent, self.event),
            message_id=self.message_id,
            record_id=self.record_id,
            partner=self.partner,
            actor=self.actor,
            details=json.loads(self.details),
            doc_sha256=self.doc_sha256,
            seq=self.seq,
            time=parse_time(self.time),
            prev_hash=self.prev_hash,
            hash=self.hash,
        )


def prepare(entry: AuditEntry, us: int) -> Prepared:
    """Serialise an entry at append time; raises here, at the caller, if it cannot be."""
    t = time_iso(us)
    details = canonical_json(entry.details) if entry.details else "{}"
    event = entry.event.value
    body = body_json(
        time=t,
        event=event,
        message_id=entry.message_id,
        record_id=entry.record_id,
        partner=entry.partner,
        actor=entry.actor,
        details=details,
        doc_sha256=entry.doc_sha256,
    ).encode()  # UnicodeEncodeError (lone surrogates) surfaces now, not in a batch
    return Prepared(
        t,
        event,
        entry.message_id,
        entry.record_id,
        entry.partner,
        entry.actor,
        details,
        entry.doc_sha256,
        body,
        us,
    )


def link(batch: Iterable[Prepared], head_seq: int, head_hash: str) -> list[ChainRow]:
    """Give a batch its places after the current head; run inside the writer's lock."""
    rows: list[ChainRow] = []
    seq, prev = head_seq, head_hash
    for p in batch:
        seq += 1
        h = link_hash(p.body, prev, seq)
        rows.append(
            ChainRow(
                seq,
                p.time,
                p.event,
                p.message_id,
                p.record_id,
                p.partner,
                p.actor,
                p.details,
                p.doc_sha256,
                prev,
                h,
            )
        )
        prev = h
    return rows
