"""`exchange convert`: domestic files in, partner documents out, every step audited."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from exchange.audit import AuditEntry, AuditEvent, AuditStore
from exchange.config import ExchangeConfig
from exchange.credentials.issuer import CredentialIssuer, Issued
from exchange.errors import ConfigError, RecordError, Reject
from exchange.intake import Accepted
from exchange.model import Kind
from exchange.pipeline import Converted, Converter, OutOfScope
from exchange.registry import source as load_source
from exchange.sinks import FileSink, RejectLog


@dataclass(slots=True)
class ConvertReport:
    records: int = 0
    documents: Counter[str] = field(default_factory=Counter)
    rejects: int = 0
    skipped: list[OutOfScope] = field(default_factory=list)
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
    drafts: list[_Draft] = []
    src = load_source(config)
    sink = FileSink(out_dir)
    rejects = RejectLog(out_dir / "rejects.jsonl")
    report = ConvertReport()
    try:
        for path in paths:
            for item in src.read(path, kind=kind, encoding=encoding):
                _handle(item, converter, sink, rejects, audit, report, drafts)
                if len(drafts) >= ISSUE_BATCH and issuing is not None:
                    _issue(drafts, issuing, sink, rejects, audit, report)
                if on_record is not None:
                    on_record()
        if issuing is not None:
            _issue(drafts, issuing, sink, rejects, audit, report)
            report.status_lists = _write_issuer_files(issuing, sink, converter)
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
    drafts: list[_Draft] | None = None,
) -> None:
    """One record: converted; documents written, credentials left in `drafts` to issue."""
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
        if doc.standing and drafts is not None:  # a credential: written once issued
            drafts.append(_Draft(item, message_id, doc))
            continue
        _write(doc, None, message_id, sink, audit, report)
    report.skipped.extend(result.skipped)
    for reject in result.rejects:
        _reject(reject, message_id, rejects, audit)


ISSUE_BATCH = 256
"""Credentials issued together: one status-store transaction for so many."""


@dataclass(frozen=True, slots=True)
class _Draft:
    item: Accepted
    message_id: str
    doc: Converted


def _issue(
    drafts: list[_Draft],
    issuing: CredentialIssuer,
    sink: FileSink,
    rejects: RejectLog,
    audit: AuditStore,
    report: ConvertReport,
) -> None:
    """Issue the waiting drafts (in order) and write each as .jsonld and .jwt."""
    if not drafts:
        return
    outcomes = issuing.issue([d.doc for d in drafts])
    for draft, outcome in zip(drafts, outcomes, strict=True):
        if isinstance(outcome, RecordError):
            _reject(_as_reject(draft.item, outcome, draft.doc.partner), draft.message_id, rejects, audit)
            continue
        doc = replace(
            draft.doc, document=outcome.document, sha256=hashlib.sha256(outcome.document).hexdigest()
        )
        _write(doc, outcome, draft.message_id, sink, audit, report)
    drafts.clear()


def _write(
    doc: Converted,
    issued: Issued | None,
    message_id: str,
    sink: FileSink,
    audit: AuditStore,
    report: ConvertReport,
) -> None:
    target = sink.write(doc)
    common = {"message_id": message_id, "record_id": doc.record_id, "partner": doc.partner}
    entries = [
        AuditEntry(AuditEvent.CONVERTED, doc_sha256=doc.sha256, details={"kind": doc.kind.value}, **common),
        AuditEntry(AuditEvent.VALIDATED, doc_sha256=doc.sha256, details={"file": str(target)}, **common),
    ]
    if issued is not None and issued.jwt is not None:
        jwt_path = sink.write_beside(doc, ".jwt", issued.jwt.encode("ascii"))
        entries.append(
            AuditEntry(
                AuditEvent.SIGNED,
                doc_sha256=issued.sha256,
                details={"file": str(jwt_path), "credentialId": issued.credential_id},
                **common,
            )
        )
        report.signed[doc.partner] += 1
    audit.append_many(entries)
    report.documents[doc.partner] += 1


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
