"""What the SOAP operations keep, in the audit database (same URL, tables of their own):

- soap_certificates: the latest status per CCC number, fed by `record_certificate`
  (the domestic intake/convert pipeline calls it; never a partner's submission);
- soap_outbox: documents waiting for pull partners (`enqueue_for_pull`), PENDING ->
  DOWNLOADED -> ACKNOWLEDGED | FAILED;
- soap_inbound: partners' message ids already submitted, for DUPLICATE;
- soap_nonces: WS-Security nonces seen lately, shared by every worker, for replay.

Every state change is one conditional statement, so concurrent requests (threads,
processes, hosts on PostgreSQL) cannot both win.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from exchange.audit.entry import format_time
from exchange.db import execute_many, open_database
from exchange.intake import CanonicalRecord
from exchange.model import CertScheme, CertStatus, Kind, ProductCertificate
from exchange.xml.chars import check_xml_text


class PullState(StrEnum):
    PENDING = "PENDING"
    DOWNLOADED = "DOWNLOADED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    partner: str
    message_id: str
    kind: Kind
    record_id: str
    sha256: str
    size: int
    state: PullState
    enqueued_at: str
    """UTC, the audit trail's text form."""
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    cert_no: str
    status: CertStatus
    issue_date: date
    expiry_date: date | None
    category: str
    change_date: date | None
    change_status: CertStatus | None
    change_reason: str | None

    def status_on(self, day: date) -> CertStatus:
        """The status that day: a VALID certificate past its expiry date is EXPIRED."""
        if self.status is CertStatus.VALID and self.expiry_date is not None and self.expiry_date < day:
            return CertStatus.EXPIRED
        return self.status


_TABLES = """
CREATE TABLE IF NOT EXISTS {p}soap_certificates (
    cert_no TEXT PRIMARY KEY, status TEXT NOT NULL, issue_date TEXT NOT NULL, expiry_date TEXT,
    category TEXT NOT NULL, changed_on TEXT NOT NULL, change_date TEXT, change_status TEXT,
    change_reason TEXT, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {p}soap_outbox (
    message_id TEXT PRIMARY KEY, partner TEXT NOT NULL, kind TEXT NOT NULL, record_id TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, document {blob} NOT NULL, state TEXT NOT NULL,
    reason TEXT, enqueued_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS soap_outbox_waiting ON {p}soap_outbox (partner, state, enqueued_at);
CREATE TABLE IF NOT EXISTS {p}soap_inbound (
    partner TEXT NOT NULL, partner_message_id TEXT NOT NULL, message_id TEXT NOT NULL,
    sha256 TEXT NOT NULL, state TEXT NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (partner, partner_message_id));
CREATE TABLE IF NOT EXISTS {p}soap_nonces (
    username TEXT NOT NULL, nonce TEXT NOT NULL, seen_at BIGINT NOT NULL, PRIMARY KEY (username, nonce));
"""
_PURGE_EVERY = 500


def _now() -> str:
    return format_time(datetime.now(UTC))


class SoapStore:
    """SQLite or PostgreSQL, chosen by the audit URL; safe to share between threads."""

    def __init__(self, url: str | None = None):
        db = open_database(url)
        self._lock = threading.Lock()
        self._conn: Any = db.conn
        self._nonce_inserts = 0
        self._pg = db.postgres
        self._p = db.prefix
        tables = _TABLES.format(p=self._p, blob="BYTEA" if self._pg else "BLOB")
        for statement in tables.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        """One statement (tables named {p}x), under the lock; returns the cursor."""
        sql = sql.format(p=self._p)
        if self._pg:
            sql = sql.replace("?", "%s")
        with self._lock:
            return self._conn.execute(sql, args)

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        sql = sql.format(p=self._p)
        if self._pg:
            sql = sql.replace("?", "%s")
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        sql = sql.format(p=self._p)
        if self._pg:
            sql = sql.replace("?", "%s")
        with self._lock:
            return list(self._conn.execute(sql, args).fetchall())

    # -- certificate status ----------------------------------------------------------

    _UPSERT_CERTIFICATE = (
        "INSERT INTO {p}soap_certificates (cert_no, status, issue_date, expiry_date, category,"
        " changed_on, change_date, change_status, change_reason, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (cert_no) DO UPDATE SET status = excluded.status,"
        " issue_date = excluded.issue_date, expiry_date = excluded.expiry_date,"
        " category = excluded.category, changed_on = excluded.changed_on,"
        " change_date = excluded.change_date, change_status = excluded.change_status,"
        " change_reason = excluded.change_reason, updated_at = excluded.updated_at"
        " WHERE excluded.changed_on >= {p}soap_certificates.changed_on"
    )

    @staticmethod
    def certificate_row(record: CanonicalRecord) -> tuple[Any, ...] | None:
        if not isinstance(record, ProductCertificate) or record.scheme is not CertScheme.CCC:
            return None
        last = max(record.history, key=lambda h: h.date, default=None)
        changed_on = max(record.issue_date, last.date) if last else record.issue_date
        return (
            record.cert_no,
            record.status.value,
            record.issue_date.isoformat(),
            None if record.expiry_date is None else record.expiry_date.isoformat(),
            record.product.category,
            changed_on.isoformat(),
            None if last is None else last.date.isoformat(),
            None if last is None else last.status.value,
            None if last is None else last.reason,
        )

    def record_certificate(self, record: CanonicalRecord) -> bool:
        """Keep a domestic CCC certificate's status for VerifyCertificate; the newest change
        wins, so records arriving out of order never turn the status back. False when the
        record is not a CCC certificate or is older than what is kept."""
        row = self.certificate_row(record)
        if row is None:
            return False
        return bool(self._run(self._UPSERT_CERTIFICATE, (*row, _now())).rowcount)

    def record_certificates(self, records: list[CanonicalRecord]) -> None:
        """The same for a batch, in one transaction."""
        self.record_certificate_rows([r for r in map(self.certificate_row, records) if r is not None])

    def record_certificate_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows made by `certificate_row` (possibly in another process), in one transaction:
        the intake worker calls it once per batch."""
        if not rows:
            return
        now = _now()  # once per batch: the rows come without it (formatting a time per record adds up)
        rows = [(*row, now) for row in rows]
        sql = self._UPSERT_CERTIFICATE.format(p=self._p)
        with self._lock:
            execute_many(self._conn, sql.replace("?", "%s") if self._pg else sql, rows)

    def certificate(self, cert_no: str) -> CertificateStatus | None:
        row = self._one(
            "SELECT status, issue_date, expiry_date, category, change_date, change_status, change_reason"
            " FROM {p}soap_certificates WHERE cert_no = ?",
            (cert_no,),
        )
        if row is None:
            return None
        status, issued, expires, category, change_date, change_status, reason = row
        return CertificateStatus(
            cert_no=cert_no,
            status=CertStatus(status),
            issue_date=date.fromisoformat(issued),
            expiry_date=None if expires is None else date.fromisoformat(expires),
            category=category,
            change_date=None if change_date is None else date.fromisoformat(change_date),
            change_status=None if change_status is None else CertStatus(change_status),
            change_reason=reason,
        )

    # -- pull outbox -----------------------------------------------------------------

    def enqueue_for_pull(
        self, partner: str, message_id: str, kind: Kind | str, record_id: str, document: bytes
    ) -> bool:
        """Make a document wait for a pull partner. Idempotent: the same message again is a
        no-op (False); another document under a used message id is a ValueError, and so is
        an id that ListPending could not write into XML."""
        check_xml_text(message_id, "the message id")
        check_xml_text(record_id, "the record id")
        sha = hashlib.sha256(document).hexdigest()
        now = _now()
        cur = self._run(
            "INSERT INTO {p}soap_outbox (message_id, partner, kind, record_id, sha256, size, document,"
            " state, enqueued_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (message_id) DO NOTHING",
            (message_id, partner, Kind(kind).value, record_id, sha, len(document), document,
             PullState.PENDING.value, now, now),
        )  # fmt: skip
        if cur.rowcount:
            return True
        existing = self.outbox_entry(message_id)
        if existing is None or existing.partner != partner or existing.sha256 != sha:
            raise ValueError(f"message id {message_id} is already used for another document")
        return False

    _ENTRY = "SELECT partner, message_id, kind, record_id, sha256, size, state, enqueued_at, reason"

    def outbox_entry(self, message_id: str) -> OutboxEntry | None:
        row = self._one(self._ENTRY + " FROM {p}soap_outbox WHERE message_id = ?", (message_id,))
        return None if row is None else _entry(row)

    def pending(
        self, partner: str, kind: Kind | None = None, limit: int = 100
    ) -> tuple[list[OutboxEntry], bool]:
        """Documents waiting for `partner` (PENDING or DOWNLOADED), oldest first; and
        whether more wait beyond `limit`."""
        sql = self._ENTRY + " FROM {p}soap_outbox WHERE partner = ? AND state IN (?, ?)"
        args: tuple[Any, ...] = (partner, PullState.PENDING.value, PullState.DOWNLOADED.value)
        if kind is not None:
            sql += " AND kind = ?"
            args += (kind.value,)
        rows = self._all(sql + " ORDER BY enqueued_at, message_id LIMIT ?", (*args, limit + 1))
        return [_entry(r) for r in rows[:limit]], len(rows) > limit

    def pull(self, message_id: str) -> tuple[OutboxEntry, bytes] | None:
        """The document, and PENDING becomes DOWNLOADED (a DOWNLOADED one may be pulled again)."""
        row = self._one(
            self._ENTRY + ", document FROM {p}soap_outbox WHERE message_id = ?",
            (message_id,),
        )
        if row is None:
            return None
        entry = _entry(row[:-1])
        if entry.state is PullState.PENDING:
            self._run(
                "UPDATE {p}soap_outbox SET state = ?, updated_at = ? WHERE message_id = ? AND state = ?",
                (PullState.DOWNLOADED.value, _now(), message_id, PullState.PENDING.value),
            )
        return entry, bytes(row[-1])

    def settle(self, message_id: str, state: PullState, reason: str | None = None) -> bool:
        """DOWNLOADED -> ACKNOWLEDGED or FAILED; False when the document was not DOWNLOADED."""
        cur = self._run(
            "UPDATE {p}soap_outbox SET state = ?, reason = ?, updated_at = ?"
            " WHERE message_id = ? AND state = ?",
            (state.value, reason, _now(), message_id, PullState.DOWNLOADED.value),
        )
        return bool(cur.rowcount)

    # -- partners' submissions -------------------------------------------------------

    def reserve_submission(
        self, partner: str, partner_message_id: str, message_id: str, sha256: str, *, stale_s: int = 300
    ) -> str | None:
        """Claim a partner's message id for a submission in progress: None when claimed,
        else our message id for the submission that already has it. A rejected submission
        does not hold its id: the partner may send a corrected document under it, nor does a
        claim left behind by a crash (older than `stale_s`)."""
        stale = format_time(datetime.now(UTC) - timedelta(seconds=stale_s))
        cur = self._run(
            "INSERT INTO {p}soap_inbound"
            " (partner, partner_message_id, message_id, sha256, state, received_at)"
            " VALUES (?, ?, ?, ?, 'RESERVED', ?) ON CONFLICT (partner, partner_message_id) DO UPDATE SET"
            " message_id = excluded.message_id, sha256 = excluded.sha256, state = excluded.state,"
            " received_at = excluded.received_at WHERE {p}soap_inbound.state = 'REJECTED'"
            " OR ({p}soap_inbound.state = 'RESERVED' AND {p}soap_inbound.received_at < ?)",
            (partner, partner_message_id, message_id, sha256, _now(), stale),
        )
        if cur.rowcount:
            return None
        row = self._one(
            "SELECT message_id FROM {p}soap_inbound WHERE partner = ? AND partner_message_id = ?",
            (partner, partner_message_id),
        )
        return str(row[0]) if row else message_id

    def finish_submission(self, partner: str, partner_message_id: str, *, accepted: bool) -> None:
        self._run(
            "UPDATE {p}soap_inbound SET state = ? WHERE partner = ? AND partner_message_id = ?",
            ("ACCEPTED" if accepted else "REJECTED", partner, partner_message_id),
        )

    def release_submission(self, partner: str, partner_message_id: str, message_id: str) -> None:
        """Forget a claim whose work failed on our side, so the partner's retry is not a duplicate."""
        self._run(
            "DELETE FROM {p}soap_inbound WHERE partner = ? AND partner_message_id = ? AND message_id = ?",
            (partner, partner_message_id, message_id),
        )

    # -- WS-Security nonces ----------------------------------------------------------

    def remember_nonce(self, username: str, nonce: str, now_s: int, window_s: int) -> bool:
        """False when the nonce was seen within the window (a replay)."""
        cur = self._run(
            "INSERT INTO {p}soap_nonces (username, nonce, seen_at) VALUES (?, ?, ?)"
            " ON CONFLICT (username, nonce) DO NOTHING",
            (username, nonce, now_s),
        )
        fresh = bool(cur.rowcount)
        self._nonce_inserts += 1
        if self._nonce_inserts % _PURGE_EVERY == 0:
            # Nonces older than twice the window can no longer come with an acceptable Created.
            self._run("DELETE FROM {p}soap_nonces WHERE seen_at < ?", (now_s - 2 * window_s,))
        return fresh

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _entry(row: Any) -> OutboxEntry:
    partner, message_id, kind, record_id, sha, size, state, enqueued_at, reason = row
    return OutboxEntry(
        partner, message_id, Kind(kind), record_id, sha, int(size), PullState(state), enqueued_at, reason
    )
