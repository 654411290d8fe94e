"""`exchange convert`: domestic files in, partner documents out, every step audited.

A record read twice (in one run) is two versions: both documents are kept (exchange/sinks.py
names them), the audit says which version each document is, and a version lacking fields
another version carries is reported as a warning. Every document also goes to the document
archive beside the audit trail, so every digest the audit names can be found again even
after a later run has replaced the files in the output folder.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from exchange.archive import Archived, DocumentArchive
from exchange.archive import Kind as ArchiveKind
from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.config import ExchangeConfig
from exchange.errors import Reject
from exchange.intake import Accepted
from exchange.model import Kind
from exchange.pipeline import Converted, Converter, OutOfScope
from exchange.registry import source as load_source
from exchange.sinks import FileSink, Placed, RejectLog
from exchange.versions import RecordVersions, Version, VersionBook

ARCHIVE_BATCH = 256


@dataclass(slots=True)
class ConvertReport:
    records: int = 0
    documents: Counter[str] = field(default_factory=Counter)
    """Files written per partner: exactly what the run left on disk."""
    rejects: int = 0
    skipped: list[OutOfScope] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    versions: int = 0
    """Records read more than once (each extra reading is one more version)."""

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
) -> ConvertReport:
    run = _Run(Converter(config, partners), FileSink(out_dir), audit, archive)
    src = load_source(config)
    rejects = RejectLog(out_dir / "rejects.jsonl")
    try:
        for path in paths:
            for item in src.read(path, kind=kind, encoding=encoding):
                run.handle(item, rejects)
                if on_record is not None:
                    on_record()
    finally:
        rejects.close()
        run.flush()
    run.report.rejects = rejects.count
    return run.report


class _Run:
    def __init__(
        self, converter: Converter, sink: FileSink, audit: AuditStore, archive: DocumentArchive | None
    ) -> None:
        self.converter = converter
        self.sink = sink
        self.audit = audit
        self.archive = archive
        self.book = VersionBook()
        self.report = ConvertReport()
        self._archived: list[Archived] = []

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
            self._write(doc, message_id, versions, version)
        self.report.skipped.extend(result.skipped)
        for reject in result.rejects:
            _reject(reject, message_id, rejects, self.audit)

    def _write(self, doc: Converted, message_id: str, versions: RecordVersions, version: Version) -> None:
        placed = Placed(version.number, version.order, doc.sha256, message_id)
        written = self.sink.write_version(doc, placed)
        common = {"message_id": message_id, "record_id": doc.record_id, "partner": doc.partner}
        numbered = {"version": version.number} if len(versions.versions) > 1 else {}
        self.audit.append_many(
            [
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
        )
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
        if self.archive is not None:
            kept = ArchiveKind.DOCUMENT
            self._archived.append(
                Archived(doc.partner, message_id, kept, doc.sha256, doc.media_type, doc.document)
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
