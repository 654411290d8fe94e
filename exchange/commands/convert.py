"""`exchange convert`: domestic files in, partner documents out, every step audited.

A record read twice (in one run) is two versions: both documents are kept (exchange/sinks.py
names them), the audit says which version each document is, and a version lacking fields
another version carries is reported as a warning. Every document also goes to the document
archive beside the audit trail, so every digest the audit names can be found again even
after a later run has replaced the files in the output folder.

Formats that issue credentials (bri) hand their drafts to the issuing step
(exchange/credentials/issuer.py) a batch at a time; each issued credential is written as
`.jsonld` with its `.jwt` beside it, under the same (version) name.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from exchange.archive import Archived, DocumentArchive
from exchange.archive import Kind as ArchiveKind
from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.config import ExchangeConfig
from exchange.credentials.issuer import CredentialIssuer, Issued
from exchange.credentials.jws import MEDIA_TYPE as JWT_MEDIA_TYPE
from exchange.errors import ConfigError, RecordError, Reject
from exchange.intake import Accepted
from exchange.model import Kind
from exchange.pipeline import Converted, Converter, OutOfScope
from exchange.registry import source as load_source
from exchange.sinks import FileSink, Placed, RejectLog
from exchange.versions import RecordVersions, Version, VersionBook

ARCHIVE_BATCH = 256
ISSUE_BATCH = 256
"""Credentials issued together: one status-store transaction for so many."""


@dataclass(slots=True)
class ConvertReport:
    records: int = 0
    documents: Counter[str] = field(default_factory=Counter)
    """Files written per partner: exactly what the run left on disk (a .jwt beside its
    .jsonld is counted in `signed`, not here)."""
    rejects: int = 0
    skipped: list[OutOfScope] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    versions: int = 0
    """Records read more than once (each extra reading is one more version)."""
    signed: Counter[str] = field(default_factory=Counter)
    """Credentials written as vc+jwt too, per partner."""
    status_lists: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejects == 0


def convert_files(
    paths: Sequence[Path],
    partners: Sequence[str],
    out_dir: Path,
    *,
    config: ExchangeConfig,
    audit: AuditStore,
    archive: DocumentArchive | None = None,
    kind: Kind | None = None,
    encoding: str | None = None,
    on_record: Callable[[], None] | None = None,
    issuing: CredentialIssuer | None = None,
) -> ConvertReport:
    """`issuing` completes and secures the credentials of formats that issue them: their
    drafts are never written, so converting for such a partner without it is refused."""
    converter = Converter(config, partners)
    if issuing is None and any(r.format.issues_credentials for r in converter.routes):
        raise ConfigError("credentials to issue and no issuer (exchange.credentials.issuer.issuer_from_env)")
    run = _Run(converter, FileSink(out_dir), audit, archive, issuing)
    src = load_source(config)
    rejects = RejectLog(out_dir / "rejects.jsonl")
    try:
        for path in paths:
            for item in src.read(path, kind=kind, encoding=encoding):
                run.handle(item, rejects)
                if on_record is not None:
                    on_record()
        run.issue(rejects)
        if issuing is not None:
            run.report.status_lists = _write_issuer_files(issuing, run.sink, converter)
    finally:
        rejects.close()
        run.flush()
    run.report.rejects = rejects.count
    return run.report


@dataclass(frozen=True, slots=True)
class _Draft:
    """A credential waiting for the issuing step, with what writing it needs."""

    item: Accepted
    message_id: str
    doc: Converted
    versions: RecordVersions
    version: Version


class _Run:
    def __init__(
        self,
        converter: Converter,
        sink: FileSink,
        audit: AuditStore,
        archive: DocumentArchive | None,
        issuing: CredentialIssuer | None = None,
    ) -> None:
        self.converter = converter
        self.sink = sink
        self.audit = audit
        self.archive = archive
        self.issuing = issuing
        self.book = VersionBook()
        self.report = ConvertReport()
        self._archived: list[Archived] = []
        self._drafts: list[_Draft] = []

    def handle(self, item: Accepted | Reject, rejects: RejectLog) -> None:
        message_id = uuid.uuid4().hex
        if isinstance(item, Reject):
            _reject(item, message_id, rejects, self.audit)
            return
        self.report.records += 1
        record_id = item.record.record_id
        versions, version, lost = self.book.add(item)
        if version.number > 1:
            self.report.versions += 1
        self.report.warnings.extend(f"warning: {loss}" for loss in lost)
        details: dict[str, object] = {"source": item.source, "location": item.location}
        details["kind"] = item.record.kind.value
        if version.number > 1:
            details["version"] = version.number
        self.audit.append(
            AuditEntry(AuditEvent.RECEIVED, message_id=message_id, record_id=record_id, details=details)
        )
        result = self.converter.convert(item)
        for doc in result.converted:
            if doc.standing and self.issuing is not None:  # a credential: written once issued
                self._drafts.append(_Draft(item, message_id, doc, versions, version))
                continue
            self._write(doc, message_id, versions, version, None)
        self.report.skipped.extend(result.skipped)
        for reject in result.rejects:
            _reject(reject, message_id, rejects, self.audit)
        if len(self._drafts) >= ISSUE_BATCH:
            self.issue(rejects)

    def issue(self, rejects: RejectLog) -> None:
        """Issue the waiting drafts (in order) and write each as .jsonld and .jwt."""
        if not self._drafts or self.issuing is None:
            return
        drafts, self._drafts = self._drafts, []
        outcomes = self.issuing.issue([d.doc for d in drafts])
        for draft, outcome in zip(drafts, outcomes, strict=True):
            if isinstance(outcome, RecordError):
                reject = _as_reject(draft.item, outcome, draft.doc.partner)
                _reject(reject, draft.message_id, rejects, self.audit)
                continue
            doc = replace(
                draft.doc, document=outcome.document, sha256=hashlib.sha256(outcome.document).hexdigest()
            )
            self._write(doc, draft.message_id, draft.versions, draft.version, outcome)

    def _write(
        self,
        doc: Converted,
        message_id: str,
        versions: RecordVersions,
        version: Version,
        issued: Issued | None,
    ) -> None:
        placed = Placed(version.number, version.order, doc.sha256, message_id)
        jwt = issued.jwt if issued is not None else None
        beside = {".jwt": jwt.encode("ascii")} if jwt is not None else {}
        written = self.sink.write_version(doc, placed, beside)
        common = {"message_id": message_id, "record_id": doc.record_id, "partner": doc.partner}
        numbered = {"version": version.number} if len(versions.versions) > 1 else {}
        entries = [
            AuditEntry(
                AuditEvent.CONVERTED,
                doc_sha256=doc.sha256,
                details={"kind": doc.kind.value, **numbered},
                **common,
            ),
            AuditEntry(
                AuditEvent.VALIDATED,
                doc_sha256=doc.sha256,
                details={"file": str(written.path), **numbered},
                **common,
            ),
        ]
        if issued is not None and jwt is not None:
            entries.append(
                AuditEntry(
                    AuditEvent.SIGNED,
                    doc_sha256=issued.sha256,
                    details={
                        "file": str(written.path.with_suffix(".jwt")),
                        "credentialId": issued.credential_id,
                        **numbered,
                    },
                    **common,
                )
            )
        self.audit.append_many(entries)
        current = versions.current
        for moved in written.moved:
            self.audit.append(
                AuditEntry(
                    AuditEvent.SUPERSEDED,
                    message_id=moved.placed.message_id,
                    record_id=doc.record_id,
                    partner=doc.partner,
                    doc_sha256=moved.placed.sha256,
                    details={
                        "file": str(moved.path),
                        "version": moved.placed.number,
                        "current_version": current.number,
                        "current_source": current.where,
                    },
                )
            )
        if written.added:
            self.report.documents[doc.partner] += 1
            if jwt is not None:
                self.report.signed[doc.partner] += 1
        if self.archive is not None:
            kept = ArchiveKind.DOCUMENT
            self._archived.append(
                Archived(doc.partner, message_id, kept, doc.sha256, doc.media_type, doc.document)
            )
            if issued is not None and jwt is not None:
                self._archived.append(
                    Archived(
                        doc.partner, message_id, kept, issued.sha256, JWT_MEDIA_TYPE, jwt.encode("ascii")
                    )
                )
            if len(self._archived) >= ARCHIVE_BATCH:
                self._flush_archive()

    def _flush_archive(self) -> None:
        if self.archive is not None and self._archived:
            self.archive.put_many(self._archived)
        self._archived = []

    def flush(self) -> None:
        self._flush_archive()
        self.audit.flush()


def _as_reject(item: Accepted, exc: RecordError, partner: str) -> Reject:
    return Reject(
        source=item.source,
        location=item.location,
        record_id=exc.record_id or item.record.record_id,
        field=exc.field,
        reason=exc.reason,
        partner=partner,
    )


def _write_issuer_files(issuing: CredentialIssuer, sink: FileSink, converter: Converter) -> list[Path]:
    """Beside the credentials: the status lists as published (every list, not only those
    this run changed) and, when signing, the issuer's DID document, each a mirror of what
    `exchange run` serves (status/<purpose>/<n>.json|.jwt, .well-known/did.json)."""
    from exchange.credentials.did import did_document

    issuing.publish_lists()
    partners = [r.agreement.partner for r in converter.routes if r.format.issues_credentials]
    written: list[Path] = []
    for purpose, number, credential, jwt in issuing.store.all_published():
        for partner in partners:
            base = f"status/{purpose}/{number}"
            written.append(sink.write_file(partner, base + ".json", credential.encode("utf-8")))
            if jwt is not None:
                written.append(sink.write_file(partner, base + ".jwt", jwt.encode("ascii")))
    if issuing.key is not None:
        data = json.dumps(did_document(issuing.issuer, issuing.key), indent=2).encode("utf-8")
        for partner in partners:
            sink.write_file(partner, ".well-known/did.json", data)
    return written


def _reject(reject: Reject, message_id: str, rejects: RejectLog, audit: AuditStore) -> None:
    rejects.write(reject)
    audit.append(
        AuditEntry(
            AuditEvent.REJECTED,
            message_id=message_id,
            record_id=reject.record_id,
            partner=reject.partner,
            details={k: v for k, v in reject.as_dict().items() if k not in ("record_id", "partner")},
        )
    )


def skipped_summary(skipped: Iterable[OutOfScope]) -> list[tuple[str, int]]:
    """Out-of-scope notes grouped by reason, most frequent first."""
    counts = Counter(f"{s.partner}: {s.reason}" for s in skipped)
    return counts.most_common()
