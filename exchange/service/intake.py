"""Intake worker: domestic records from cn.domestic.in become validated partner
documents on the partners' work queues. Parse once, convert once per partner."""

from __future__ import annotations

import hashlib
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import structlog
from pika.spec import BasicProperties

from exchange.archive import Archived, DocumentArchive
from exchange.archive import Kind as ArchiveKind
from exchange.audit import AuditEntry, AuditEvent
from exchange.credentials.issuer import CredentialIssuer
from exchange.intake import CanonicalRecord, Source
from exchange.model import Kind
from exchange.pipeline import Converter
from exchange.registry import soap_partner
from exchange.service.consumer import Batch, BatchConsumer, Disposition, Work
from exchange.service.offload import SOURCE, Job, Outcome, convert_jobs, issue_outcomes, run_jobs
from exchange.service.properties import check_properties
from exchange.service.topology import DLX, OUTBOUND
from exchange.state import Delivery, State
from exchange.version_ledger import VersionLedger

log = structlog.get_logger("exchange.amqp.intake")
SCOPE = "intake"


def partners_header(headers: dict[str, Any]) -> list[str] | None:
    """The `partners` header: a list (or comma-separated text); absent or empty = all."""
    raw = headers.get("partners")
    if raw is None:
        return None
    if isinstance(raw, (bytes, str)):
        text = raw.decode() if isinstance(raw, bytes) else raw
        items = [p.strip() for p in text.split(",") if p.strip()]
    else:
        items = [p.decode() if isinstance(p, bytes) else str(p) for p in raw]
    return items or None


class CertificateLedger(Protocol):
    """Where the latest status of every certificate seen is kept (VerifyCertificate)."""

    def record_certificate_rows(self, rows: list[tuple[Any, ...]]) -> None: ...

    def certificate_row(self, record: CanonicalRecord) -> tuple[Any, ...] | None: ...


@dataclass(slots=True)
class _Pending:
    work: Work
    mid: str
    sha: str
    kind: Kind
    wanted: list[str] | None
    unknown: list[str]


class IntakeWorker(BatchConsumer):
    def __init__(
        self,
        *,
        converter: Converter,
        source: Source,
        certificates: CertificateLedger | None = None,
        pool: Executor | None = None,
        archive: DocumentArchive | None = None,
        issuer: CredentialIssuer | None = None,
        versions: VersionLedger | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.versions = versions
        """Numbers versions when conversion runs inline (a pool process has its own)."""
        self.issuer = issuer
        """Issues credentials when conversion runs inline (a pool process has its own)."""
        self.archive = archive
        self._documents: dict[int, list[Archived]] = {}
        """Delivery tag -> the documents made from it, archived with its batch."""
        self._ledger: dict[int, list[tuple[Any, ...]]] = {}
        """Batch (by id) -> its certificate-status rows, written with the batch."""
        self.converter = converter
        self.source = source
        self.certificates = certificates
        self.pool = pool
        self._in_flight: dict[str, str] = {}
        """Message id -> content hash of every message handled but not yet finished: with
        batches in flight at once, the state table alone would miss a duplicate."""
        """Where parsing and conversion run (a process pool); None: right here, in the loop."""
        self.partners = {r.agreement.partner for r in converter.routes}
        self.soap_partners = frozenset(
            r.agreement.partner for r in converter.routes if soap_partner(r.agreement)
        )
        """Their documents are audited READY_TO_SEND before SEND_ENQUEUED (the SOAP state machine)."""

    def handle(self, works: list[Work]) -> None:
        ids = [w.message.message_id for w in works if w.message.message_id]
        seen = self.state.get_many(SCOPE, ids)
        in_batch = self._in_flight
        pending: list[_Pending] = []
        for work in works:
            try:
                item = self._prepare(work, seen, in_batch)
            except Exception as exc:  # a poison message: never loop, never lose it
                self._poisoned(work, exc)
                continue
            if item is not None:
                pending.append(item)
        if not pending:
            return
        jobs = [Job(p.mid, p.kind.value, p.wanted, p.work.message.body) for p in pending]
        if self.pool is None:
            row = self.certificates.certificate_row if self.certificates is not None else None
            outcomes = run_jobs(self.converter, self.source, jobs, row, self.versions)
            self._apply_all(pending, issue_outcomes(self.issuer, outcomes))
            return
        # Parsing and conversion are the CPU-heavy part: another process does them, so
        # this loop keeps serving the broker (heartbeats, confirms, acks) meanwhile.
        batch = works[0].batch
        assert batch is not None
        batch.pending += 1
        loop = self.channel.connection.ioloop
        future = self.pool.submit(convert_jobs, jobs)

        def back(done: Future[list[Outcome]]) -> None:
            loop.add_callback_threadsafe(lambda: self._converted(batch, pending, done))

        future.add_done_callback(back)

    def keep(self, batch: Batch) -> None:
        archived: list[Archived] = []
        for work in batch.works:
            docs = self._documents.pop(work.message.tag, None)
            if docs and work.failure is None:
                archived.extend(docs)
        if self.archive is not None and archived:
            self.archive.put_many(archived)  # one write for the whole batch, before its states
        rows = self._ledger.pop(id(batch), None)
        if rows and self.certificates is not None:
            self.certificates.record_certificate_rows(rows)

    def finished(self, batch: Batch) -> None:
        for work in batch.works:
            if work.message.message_id:
                self._in_flight.pop(work.message.message_id, None)

    def forget(self) -> None:
        self._in_flight.clear()
        self._documents.clear()
        self._ledger.clear()

    def _converted(self, batch: Batch, pending: list[_Pending], done: Future[list[Outcome]]) -> None:
        if not self.alive:
            return
        try:
            outcomes = done.result()
        except Exception as exc:  # the pool itself failed: try the whole batch again
            outcomes = [Outcome(crash=f"conversion process failed: {type(exc).__name__}: {exc}")] * len(
                pending
            )
        self._apply_all(pending, outcomes)
        batch.pending -= 1
        self._drain()

    def _poisoned(self, work: Work, exc: Exception | str) -> None:
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        log.error("intake failed", message_id=work.message.message_id, reason=reason)
        if work.message.last_chance:
            self.dead_letter(work, DLX, "intake", f"processing failed: {reason}")
        else:
            work.disposition = Disposition.REQUEUE
            work.failure = reason

    def _prepare(self, work: Work, seen: dict[str, Delivery], in_batch: dict[str, str]) -> _Pending | None:
        """The checks that need no parsing: id, duplicates, type. None when already settled."""
        m = work.message
        sha = hashlib.sha256(m.body).hexdigest()
        problem = check_properties(m.message_id, m.properties.type, m.properties.content_type, m.headers)
        if problem is not None:  # the id is kept out of the trail unless it is a sound one
            mid_ok = problem.field != "message_id"
            self._reject(work, m.message_id if mid_ok else None, None, problem.field, problem.reason, sha=sha)
            return None
        mid = m.message_id
        assert mid is not None
        previous = seen.get(mid)
        earlier_sha = previous.sha256 if previous is not None else in_batch.get(mid)
        if earlier_sha is not None:
            if earlier_sha == sha:
                self.audit.append(
                    AuditEntry(
                        AuditEvent.REJECTED,
                        message_id=mid,
                        details={
                            "reason": "duplicate message id, same content: already processed",
                            "duplicate": True,
                        },
                    )
                )
            else:
                # the id stays bound to what it first carried: nothing is remembered for this body
                self._reject(
                    work,
                    mid,
                    None,
                    "message_id",
                    "message id already used for different content",
                    remember=False,
                )
            return None
        in_batch[mid] = sha
        kind_text = m.properties.type or m.routing_key
        try:
            kind = Kind(kind_text)
        except ValueError:
            why = f"unknown record type {kind_text!r} (expected ccc, glp or pt)"
            self._reject(work, mid, None, "type", why, sha=sha)
            return None
        wanted = partners_header(m.headers)
        unknown = sorted(set(wanted or ()) - self.partners)
        return _Pending(work, mid, sha, kind, wanted, unknown)

    def _apply_all(self, pending: list[_Pending], outcomes: list[Outcome]) -> None:
        rows = []
        for item, outcome in zip(pending, outcomes, strict=True):
            try:
                self._apply(item, outcome)
            except Exception as exc:
                self._poisoned(item.work, exc)
                continue
            if outcome.ledger_row is not None:
                rows.append(outcome.ledger_row)
        if self.certificates is not None and rows:  # written with the batch, off the loop
            batch = pending[0].work.batch
            self._ledger.setdefault(id(batch), []).extend(rows)

    def _apply(self, item: _Pending, outcome: Outcome) -> None:
        work, mid, sha, kind, wanted = item.work, item.mid, item.sha, item.kind, item.wanted
        if outcome.error is not None:
            error_id, field, reason = outcome.error
            self._reject(work, mid, error_id, field, reason, sha=item.sha)
            return
        record_id = outcome.record_id
        numbered = {"version": outcome.version} if outcome.version else {}
        if record_id is not None:  # it parsed: it was received, whatever happens next
            for line in outcome.warnings:
                log.warning(f"warning: {line}", message_id=mid, record_id=record_id)
            self.audit.append(
                AuditEntry(
                    AuditEvent.RECEIVED,
                    message_id=mid,
                    record_id=record_id,
                    doc_sha256=sha,
                    details={
                        "kind": kind.value,
                        "source": SOURCE,
                        "partners": wanted or "all",
                        "unknownPartners": item.unknown,
                        **numbered,
                        **({"warnings": list(outcome.warnings)} if outcome.warnings else {}),
                    },
                ),
                at_us=work.message.arrived_us or None,
            )
        if outcome.crash is not None:
            self._poisoned(work, outcome.crash)
            return
        if outcome.stale is not None:  # never delivered over the newer version
            log.warning("stale version", message_id=mid, record_id=record_id, reason=outcome.stale)
            stale = {"version": outcome.version, "current_version": outcome.current_version}
            self._reject(work, mid, record_id, "version", outcome.stale, sha=sha, extra=stale)
            return
        result = outcome.conversion
        assert result is not None and record_id is not None
        converted = outcome.converted_us or None  # stamped where it happened, in the pool
        for doc in result.converted:
            entry = partial(AuditEntry, message_id=mid, record_id=record_id, partner=doc.partner)
            self.audit.append(
                entry(AuditEvent.CONVERTED, doc_sha256=doc.sha256, details={"kind": kind.value, **numbered}),
                at_us=converted,
            )
            self.audit.append(
                entry(AuditEvent.VALIDATED, doc_sha256=doc.sha256, details=numbered), at_us=converted
            )
            if doc.credential_id:
                self.audit.append(
                    entry(
                        AuditEvent.SIGNED, doc_sha256=doc.sha256, details={"credentialId": doc.credential_id}
                    ),
                    at_us=converted,
                )
            if doc.partner in self.soap_partners:
                self.audit.append(entry(AuditEvent.READY_TO_SEND, doc_sha256=doc.sha256), at_us=converted)
            props = BasicProperties(
                delivery_mode=2,
                message_id=mid,
                type=kind.value,
                content_type=doc.media_type,
                headers={
                    "partner": doc.partner,
                    "record-id": record_id,
                    "sha256": doc.sha256,
                    "attempt": 0,
                    **({"credential-id": doc.credential_id} if doc.credential_id else {}),
                    **({"record-version": outcome.version} if outcome.version else {}),
                },
            )
            enqueued = entry(
                AuditEvent.SEND_ENQUEUED, doc_sha256=doc.sha256, details={"queue": f"mra.{doc.partner}.work"}
            )
            self.publish(work, OUTBOUND, doc.partner, doc.document, props, on_ok=self.audit_later(enqueued))
            if self.archive is not None:
                self._documents.setdefault(work.message.tag, []).append(
                    Archived(doc.partner, mid, ArchiveKind.DOCUMENT, doc.sha256, doc.media_type, doc.document)
                )
        for skipped in result.skipped:
            log.info("out of scope", message_id=mid, partner=skipped.partner, reason=skipped.reason)
        for reject in result.rejects:
            self._reject(work, mid, reject.record_id, reject.field, reject.reason, partner=reject.partner)
        work.states.append(Delivery(SCOPE, mid, sha, 0, State.DONE))

    def _reject(
        self,
        work: Work,
        mid: str | None,
        record_id: str | None,
        field: str | None,
        reason: str,
        partner: str | None = None,
        sha: str | None = None,
        remember: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Bad input: audited with its reason and parked on mra.rejects, never retried."""
        self.audit.append(
            AuditEntry(
                AuditEvent.REJECTED,
                message_id=mid,
                record_id=record_id,
                partner=partner,
                details={"field": field, "reason": reason, "source": SOURCE, **(extra or {})},
            )
        )
        m = work.message
        headers = dict(m.headers) if field != "headers" else {}  # bad headers are not passed on
        headers.update(
            {"x-mra-reason": reason[:1000], "x-mra-field": field or "", "x-mra-partner": partner or ""}
        )
        props = BasicProperties(
            delivery_mode=2,
            message_id=mid,
            type=m.properties.type if field != "type" else None,
            content_type=m.properties.content_type if field != "content_type" else None,
            headers=headers,
        )
        self.publish(work, DLX, "rejects", m.body, props)
        if mid and partner is None and remember:
            # remembered as handled, so a redelivery is a duplicate, not a second reject
            work.states.append(Delivery(SCOPE, mid, sha or hashlib.sha256(m.body).hexdigest(), 0, State.DONE))
