"""Versions of a record across messages and runs of `exchange run`: numbered durably.

File mode (exchange/versions.py) numbers the versions of one run; the service sees a
certificate again in another message, maybe days and restarts later. This table, in the
audit database (SQLite or PostgreSQL, same URL), gives every message that carried a record
its version number, once: the same message again (a redelivery) gets the number it got the
first time, and the same decisions, because they are made against the versions registered
before it only.

Which version is current is the rule of file mode: the later status change, then the later
in input order (here: the order of registration, across processes and hosts). A version
whose status change is older than one registered before it is **stale**: it must not be
delivered over the newer one. A version lacking fields present in the version it follows
(or the other way round) is named in a warning.

Registration is one transaction per batch, serialised (SQLite: BEGIN IMMEDIATE;
PostgreSQL: a transaction-scoped advisory lock), so two workers never hand out one number
twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from exchange.db import open_database
from exchange.intake import CanonicalRecord
from exchange.state import TABLE as DELIVERY_TABLE
from exchange.state import State, state_code
from exchange.versions import paths_of

_SENT, _ACKNOWLEDGED = state_code(State.SENT), state_code(State.ACKNOWLEDGED)
_LOCK_KEY = 0x6D7261_7665  # "mra" "ve": PostgreSQL advisory lock of the registration


def field_paths(record: CanonicalRecord) -> list[str]:
    """The record's non-empty field paths (list items share one path), sorted."""
    return sorted(set(paths_of(record, "")))


def _outermost(paths: set[str]) -> list[str]:
    """Paths without those whose parent is listed too: `product` rather than every
    `product.*`."""

    def parent(p: str) -> str:
        return p[:-2] if p.endswith("[]") else p.rpartition(".")[0]

    out = []
    for p in sorted(paths):
        q = parent(p)
        while q and q not in paths:
            q = parent(q)
        if not q:
            out.append(p)
    return out


@dataclass(frozen=True, slots=True)
class Sighting:
    """One message carrying one record, as the ledger is told about it."""

    kind: str
    record_id: str
    message_id: str
    sha256: str
    changed: date | None
    fields: Sequence[str]


@dataclass(frozen=True, slots=True)
class Known:
    """A registered version."""

    number: int
    message_id: str
    changed: date | None
    position: int
    fields: frozenset[str]

    @property
    def order(self) -> tuple[date, int]:
        return (self.changed or date.min, self.position)

    def describe(self) -> str:
        when = self.changed.isoformat() if self.changed else "no date"
        return f"version {self.number} (message {self.message_id}, status change {when})"


@dataclass(frozen=True, slots=True)
class Registered:
    """What the ledger decided for one sighting."""

    kind: str
    record_id: str
    version: Known
    current_before: Known | None
    """The current version among those registered before this one."""
    stale: bool
    """Its status change is older than `current_before`'s: never delivered over it."""
    lost: tuple[str, ...] = ()
    """Warning lines: fields one of the two versions lacks that the other carries."""

    @property
    def number(self) -> int:
        return self.version.number

    def stale_reason(self) -> str:
        assert self.current_before is not None
        return (
            f"{self.kind}-{self.record_id} {self.version.describe()} is older than the current"
            f" {self.current_before.describe()}: not delivered over it"
        )


def _losses(kind: str, record_id: str, a: Known, b: Known) -> list[str]:
    lines = []
    for x, y in ((a, b), (b, a)):
        missing = _outermost(set(y.fields) - set(x.fields))
        if missing:
            lines.append(
                f"{kind}-{record_id} version {x.number} (message {x.message_id}) lacks"
                f" {', '.join(missing)} present in version {y.number} (message {y.message_id})"
            )
    return lines


class VersionLedger:
    """SQLite or PostgreSQL, chosen by the audit URL; safe to share between threads."""

    def __init__(self, url: str | None = None):
        db = open_database(url)
        self._lock = threading.Lock()
        self._conn: Any = db.conn
        self._pg = db.postgres
        self._ph = db.placeholder
        self._table = f"{db.prefix}record_versions"
        self._fieldsets = f"{db.prefix}record_fieldsets"
        """Field lists stored once each (most versions share one), keyed by a digest: a
        list per row cost more than the rest of the audit of a record (issue 17)."""
        self._known_fieldsets: set[str] = set()
        self._deliveries = f"{db.prefix}{DELIVERY_TABLE}"
        """exchange/state.py's table, same database: what each partner was sent."""
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} ("
            " kind TEXT NOT NULL, record_id TEXT NOT NULL, number INTEGER NOT NULL,"
            " message_id TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, changed TEXT,"
            " position BIGINT NOT NULL, fields TEXT NOT NULL,"
            " PRIMARY KEY (kind, record_id, number))"
        )
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self._fieldsets} (id TEXT PRIMARY KEY, fields TEXT NOT NULL)"
        )
        # the next input position is MAX(position) + 1, read once per batch: an index lookup
        self._conn.execute(f"CREATE INDEX IF NOT EXISTS record_versions_position ON {self._table} (position)")

    def _q(self, sql: str) -> str:
        return sql.replace("?", self._ph).replace("{t}", self._table)

    def _versions(self, cur: Any, kind: str, record_id: str) -> list[Known]:
        rows = cur.execute(
            self._q("SELECT v.number, v.message_id, v.changed, v.position, COALESCE(f.fields, v.fields)"
                    f" FROM {{t}} v LEFT JOIN {self._fieldsets} f ON f.id = v.fields"
                    " WHERE v.kind = ? AND v.record_id = ? ORDER BY v.number"),
            (kind, record_id),
        ).fetchall()  # fmt: skip
        return [
            Known(
                int(n),
                str(mid),
                date.fromisoformat(changed) if changed else None,
                int(pos),
                frozenset(json.loads(fields)),
            )
            for n, mid, changed, pos, fields in rows
        ]

    def register_many(self, sightings: Sequence[Sighting]) -> list[Registered]:
        """Number each sighting (in order) in one serialised transaction; a message
        registered before gets its first answer again."""
        if not sightings:
            return []
        with self._lock:
            try:
                return self._register_in_transaction(sightings)
            except BaseException:
                self._known_fieldsets.clear()  # a rolled-back field list is not stored
                raise

    def _register_in_transaction(self, sightings: Sequence[Sighting]) -> list[Registered]:
        if isinstance(self._conn, sqlite3.Connection):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                out = self._register(self._conn, sightings)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return out
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            return self._register(cur, sightings)

    def _register(self, cur: Any, sightings: Sequence[Sighting]) -> list[Registered]:
        (top,) = cur.execute(self._q("SELECT COALESCE(MAX(position), 0) FROM {t}")).fetchone()
        position = int(top)
        out: list[Registered] = []
        for s in sightings:
            versions = self._versions(cur, s.kind, s.record_id)
            mine = next((v for v in versions if v.message_id == s.message_id), None)
            if mine is None:
                position += 1
                mine = Known(
                    max((v.number for v in versions), default=0) + 1,
                    s.message_id,
                    s.changed,
                    position,
                    frozenset(s.fields),
                )
                cur.execute(
                    self._q("INSERT INTO {t} (kind, record_id, number, message_id, sha256, changed,"
                            " position, fields)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                    (s.kind, s.record_id, mine.number, s.message_id, s.sha256,
                     s.changed.isoformat() if s.changed else None, mine.position,
                     self._fieldset(cur, mine.fields)),
                )  # fmt: skip
            earlier = [v for v in versions if v.position < mine.position]
            before = max(earlier, key=lambda v: v.order, default=None)
            stale = before is not None and (before.changed or date.min) > (mine.changed or date.min)
            lost = tuple(_losses(s.kind, s.record_id, mine, before)) if before is not None else ()
            out.append(Registered(s.kind, s.record_id, mine, before, stale, lost))
        return out

    def _fieldset(self, cur: Any, fields: frozenset[str]) -> str:
        """The key of this field list, stored once (a row written before keys held the list
        itself, which reading still takes: COALESCE in _versions)."""
        listed = json.dumps(sorted(fields))
        key = hashlib.sha256(listed.encode()).hexdigest()[:24]
        if key not in self._known_fieldsets:
            conflict = " ON CONFLICT (id) DO NOTHING"
            cur.execute(
                f"INSERT INTO {self._fieldsets} (id, fields) VALUES ({self._ph}, {self._ph}){conflict}",
                (key, listed),
            )
            self._known_fieldsets.add(key)
        return key

    def delivered_later(self, partner: str, message_ids: Sequence[str]) -> dict[str, tuple[int, int, str]]:
        """For each of these messages (versions) that a later version of the same record
        has already been sent to `partner` (SENT or ACKNOWLEDGED): message id -> (its
        number, the later number, the later message id). A retry of version 1 arriving
        after version 2 was delivered must not be delivered over it."""
        if not message_ids:
            return {}
        marks = ",".join([self._ph] * len(message_ids))
        sql = (
            "SELECT mine.message_id, mine.number, later.number, later.message_id"
            f" FROM {self._table} mine JOIN {self._table} later ON later.kind = mine.kind"
            " AND later.record_id = mine.record_id AND later.number > mine.number"
            f" JOIN {self._deliveries} d ON d.scope = {self._ph} AND d.message_id = later.message_id"
            f" AND d.state IN ({_SENT}, {_ACKNOWLEDGED}) WHERE mine.message_id IN ({marks})"
        )
        found: dict[str, tuple[int, int, str]] = {}
        with self._lock:
            rows = self._conn.execute(sql, [partner, *message_ids]).fetchall()
        for mid, number, later, later_mid in rows:
            if str(mid) not in found or int(later) > found[str(mid)][1]:
                found[str(mid)] = (int(number), int(later), str(later_mid))
        return found

    def versions(self, kind: str, record_id: str) -> list[Known]:
        """Every version registered for a record, by number."""
        with self._lock:
            return self._versions(self._conn, kind, record_id)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
