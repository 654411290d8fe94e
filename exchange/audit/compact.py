"""How entries are stored: compact columns that decode to exactly the texts that were hashed.

The chain's definition (chain.py) is unchanged: each entry's hash is over the canonical
JSON of its text fields. Only the storage is compact, and every stored byte still takes
part in what `verify` recomputes:

- time as microseconds since the epoch (an integer; its text is `time_iso`);
- digests (`doc_sha256`, `prev_hash`, `hash`) as 32 raw bytes, not 64 hex characters;
- event, partner, actor, and details texts seen more than once, as ids into
  `audit_names` (each text stored once); a record's (message id, record id) pair as an
  id into `audit_refs` (stored once per record, not once per step).

Reading joins the lookup tables back in, so changing a shared name changes every entry
that uses it, and `verify` reports the first. Names are never deleted; refs only by a
purge, which bumps `audit_meta.generation` so every writer drops its cached ref ids.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Sequence
from typing import Any

from exchange.audit.chain import ChainRow, time_iso

NAMES = "audit_names"
REFS = "audit_refs"
LOG = "audit_log"
META = "audit_meta"
OLD_TABLE = "audit_entries"
"""The text format before this one (one 64-character hex column per digest, names inline)."""

INTERN_DETAILS_MAX = 512
"""Longer details stay inline: they are rarely repeated, and the lookup would cost more."""
_SEEN_MAX = 50_000


def digest(hex_text: str | None) -> bytes | None:
    """64 hex characters as 32 bytes; a value that is not lower-case hex is kept as its text
    (only tampering or a forged row makes one), so it still decodes to what was stored."""
    if hex_text is None:
        return None
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        raw = b""
    if len(raw) == 32 and raw.hex() == hex_text:
        return raw
    text = hex_text.encode()  # marked with 0xFF bytes (never in UTF-8), never 32 long
    return (b"\xff\xff" if len(text) == 31 else b"\xff") + text


def hex_of(stored: Any) -> str | None:
    """Inverse of `digest`; empty (how a missing digest is stored) is None."""
    if stored is None:
        return None
    raw = bytes(stored)
    if not raw:
        return None
    return raw.hex() if len(raw) == 32 else raw.lstrip(b"\xff").decode("utf-8", "replace")


def us_of(text: str) -> int:
    """Inverse of `time_iso` (text `YYYY-MM-DDTHH:MM:SS.ffffffZ`), exact to the microsecond."""
    whole, _, frac = text.rstrip("Z").partition(".")
    sec = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return sec * 1_000_000 + int(frac.ljust(6, "0")[:6] or 0)


def round_trips(text: str) -> bool:
    try:
        return time_iso(us_of(text)) == text
    except ValueError:
        return False


def select_sql(prefix: str = "") -> str:
    """Every entry decoded to its texts, in ChainRow's column order (time still in µs)."""
    n, r, e = f"{prefix}{NAMES}", f"{prefix}{REFS}", f"{prefix}{LOG}"
    return (
        "SELECT e.seq, e.t, ev.name, r.message_id, r.record_id, pa.name, ac.name,"
        " COALESCE(dn.name, e.details), e.doc, e.prev, e.hash"
        f" FROM {e} e"
        f" LEFT JOIN {n} ev ON ev.id = e.ev"
        f" LEFT JOIN {r} r ON r.id = e.ref"
        f" LEFT JOIN {n} pa ON pa.id = e.partner"
        f" LEFT JOIN {n} ac ON ac.id = e.actor"
        f" LEFT JOIN {n} dn ON dn.id = e.dref"
    )


def decode(row: Sequence[Any]) -> ChainRow:
    """A joined row as the chain's texts; a dangling id (tampering) decodes to "" or None,
    which no hash matches."""
    return ChainRow(
        int(row[0]),
        time_iso(int(row[1])),
        row[2] or "",
        row[3],
        row[4],
        row[5],
        row[6] or "",
        row[7] if row[7] is not None else "",
        hex_of(row[8]),
        hex_of(row[9]) or "",
        hex_of(row[10]) or "",
    )


class Encoder:
    """Turns chain rows into storage rows inside a writer's transaction (the lock held).

    Caches name and ref ids: names never change, and refs are only removed by a purge,
    which the generation read at each write detects."""

    def __init__(self, prefix: str, placeholder: str) -> None:
        self.prefix, self.ph = prefix, placeholder
        self.names: dict[str, int] = {}
        self.refs: dict[tuple[str | None, str | None], int] = {}
        self.generation = -1
        self._seen: set[str] = set()

    def start(self, cur: Any) -> None:
        """Call first in each write transaction."""
        row = cur.execute(f"SELECT generation FROM {self.prefix}{META} WHERE id = 1").fetchone()
        generation = int(row[0]) if row else 0
        if generation != self.generation:
            self.refs.clear()
            self.generation = generation

    def name(self, cur: Any, text: str) -> int:
        found = self.names.get(text)
        if found is not None:
            return found
        table, p = f"{self.prefix}{NAMES}", self.ph
        row = cur.execute(f"SELECT id FROM {table} WHERE name = {p}", (text,)).fetchone()
        if row is None:
            row = cur.execute(f"INSERT INTO {table} (name) VALUES ({p}) RETURNING id", (text,)).fetchone()
        self.names[text] = int(row[0])
        return int(row[0])

    def ref(self, cur: Any, message_id: str | None, record_id: str | None) -> int | None:
        if message_id is None and record_id is None:
            return None
        key = (message_id, record_id)
        found = self.refs.get(key)
        if found is not None:
            return found
        table, p = f"{self.prefix}{REFS}", self.ph
        if message_id is not None:
            rows = cur.execute(
                f"SELECT id, record_id FROM {table} WHERE message_id = {p}", (message_id,)
            ).fetchall()
        else:
            rows = cur.execute(
                f"SELECT id, record_id FROM {table} WHERE record_id = {p} AND message_id IS NULL",
                (record_id,),
            ).fetchall()
        ref = next((int(i) for i, rid in rows if rid == record_id), None)
        if ref is None:
            ref = int(
                cur.execute(
                    f"INSERT INTO {table} (message_id, record_id) VALUES ({p}, {p}) RETURNING id",
                    (message_id, record_id),
                ).fetchone()[0]
            )
        if len(self.refs) > _SEEN_MAX:
            self.refs.clear()
        self.refs[key] = ref
        return ref

    def details(self, cur: Any, text: str) -> tuple[int | None, str | None]:
        """(name id, None) for a text seen before; (None, text) the first time."""
        if text in self.names:
            return self.names[text], None
        if len(text) > INTERN_DETAILS_MAX:
            return None, text
        if text not in self._seen:
            if len(self._seen) > _SEEN_MAX:
                self._seen.clear()
            self._seen.add(text)
            return None, text
        return self.name(cur, text), None

    def encode(self, cur: Any, row: ChainRow, us: int | None = None) -> tuple[Any, ...]:
        """(seq, t, ev, ref, partner, actor, dref, details, doc, prev, hash).

        Nothing is NULL: an absent id is 0 (ids start at 1, so the join finds nothing), an
        absent digest empty, inline details empty when interned. PostgreSQL then stores no
        null bitmap, whose padding costs 8 bytes an entry."""
        dref, details = self.details(cur, row.details)
        ref = self.ref(cur, row.message_id, row.record_id)
        return (
            row.seq,
            us_of(row.time) if us is None else us,
            self.name(cur, row.event),
            0 if ref is None else ref,
            0 if row.partner is None else self.name(cur, row.partner),
            self.name(cur, row.actor),
            0 if dref is None else dref,
            "" if details is None else details,
            digest(row.doc_sha256) or b"",
            digest(row.prev_hash),
            digest(row.hash),
        )


COLUMNS = ("seq", "t", "ev", "ref", "partner", "actor", "dref", "details", "doc", "prev", "hash")
