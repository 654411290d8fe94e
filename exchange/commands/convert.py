"""`exchange convert`: domestic files in, partner documents out, every step audited."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.config import ExchangeConfig
from exchange.errors import Reject
from exchange.intake import Accepted
from exchange.model import Kind
from exchange.pipeline import Converter, OutOfScope
from exchange.registry import source as load_source
from exchange.sinks import FileSink, RejectLog


@dataclass(slots=True)
class ConvertReport:
    records: int = 0
    documents: Counter[str] = field(default_factory=Counter)
    rejects: int = 0
    skipped: list[OutOfScope] = field(default_factory=list)

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
    kind: Kind | None = None,
    encoding: str | None = None,
    on_record: Callable[[], None] | None = None,
) -> ConvertReport:
    converter = Converter(config, partners)
    src = load_source(config)
    sink = FileSink(out_dir)
    rejects = RejectLog(out_dir / "rejects.jsonl")
    report = ConvertReport()
    try:
        for path in paths:
            for item in src.read(path, kind=kind, encoding=encoding):
                _handle(item, converter, sink, rejects, audit, report)
                if on_record is not None:
                    on_record()
    finally:
        rejects.close()
        audit.flush()
    report.rejects = rejects.count
    return report


def _handle(
    item: Accepted | Reject,
    converter: Converter,
    sink: FileSink,
    rejects: RejectLog,
    audit: AuditStore,
    report: ConvertReport,
) -> None:
    message_id = uuid.uuid4().hex
    if isinstance(item, Reject):
        _reject(item, message_id, rejects, audit)
        return
    report.records += 1
    record_id = item.record.record_id
    audit.append(
        AuditEntry(
            AuditEvent.RECEIVED,
            message_id=message_id,
            record_id=record_id,
            details={"source": item.source, "location": item.location, "kind": item.record.kind.value},
        )
    )
    result = converter.convert(item)
    for doc in result.converted:
        target = sink.write(doc)
        common = {"message_id": message_id, "record_id": record_id, "partner": doc.partner}
        audit.append_many(
            [
                AuditEntry(
                    AuditEvent.CONVERTED, doc_sha256=doc.sha256, details={"kind": doc.kind.value}, **common
                ),
                AuditEntry(
                    AuditEvent.VALIDATED, doc_sha256=doc.sha256, details={"file": str(target)}, **common
                ),
            ]
        )
        report.documents[doc.partner] += 1
    report.skipped.extend(result.skipped)
    for reject in result.rejects:
        _reject(reject, message_id, rejects, audit)


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
