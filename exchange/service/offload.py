"""Parsing and conversion of domestic messages, as plain functions over picklable jobs,
so they can run in a process pool beside the I/O loop (or inline, in tests and demos).

Only what the loop needs comes back: the conversion (documents, rejects, out-of-scope
notes) and, for certificates, the row for the certificate-status ledger."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange.credentials.issuer import CredentialIssuer
from exchange.errors import RecordError
from exchange.intake import Accepted, CanonicalRecord, Source
from exchange.model import Kind
from exchange.pipeline import Conversion, Converter
from exchange.version_ledger import Registered, Sighting, VersionLedger, field_paths
from exchange.versions import last_status_change
from exchange.wire import PickledAsFields

SOURCE = "amqp:cn.domestic.in"


@dataclass(frozen=True, slots=True)
class Job:
    message_id: str
    kind: str
    wanted: list[str] | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Outcome(PickledAsFields):
    conversion: Conversion | None = None
    error: tuple[str | None, str | None, str] | None = None
    """A bad record: (record id, field, reason)."""
    crash: str | None = None
    """A bug while handling it (a poison message)."""
    ledger_row: tuple[Any, ...] | None = None
    record_id: str | None = None
    """Set whenever the record parsed (also when converting it then crashed)."""
    parsed_us: int = 0
    """Wall clock (µs) when it had parsed: when it was RECEIVED as a record."""
    converted_us: int = 0
    """Wall clock (µs) when its documents were converted and validated."""
    version: int = 0
    """The record's version number (exchange/version_ledger.py); 0 when not numbered."""
    stale: str | None = None
    """Why this version is not delivered (older than the current one)."""
    current_version: int = 0
    """With `stale`: the current version's number."""
    warnings: tuple[str, ...] = ()
    """Fields this version lost (or the previous one lacked), one line each."""


LedgerRow = Callable[[CanonicalRecord], "tuple[Any, ...] | None"]


def run_job(converter: Converter, source: Source, job: Job, ledger_row: LedgerRow | None = None) -> Outcome:
    return run_jobs(converter, source, [job], ledger_row)[0]


def run_jobs(
    converter: Converter,
    source: Source,
    jobs: Sequence[Job],
    ledger_row: LedgerRow | None = None,
    versions: VersionLedger | None = None,
) -> list[Outcome]:
    """Parse every job, number the versions of the batch's records in one transaction
    (exchange/version_ledger.py), then convert each with its version number; a stale
    version (older than the current one) is not converted: its outcome says why."""
    parsed: list[CanonicalRecord | Outcome] = []
    stamps: list[int] = []
    for job in jobs:
        try:
            record = source.parse_message(job.body, kind=Kind(job.kind), source=f"{SOURCE} {job.message_id}")
        except RecordError as exc:
            parsed.append(Outcome(error=(exc.record_id, exc.field, exc.reason)))
        except Exception as exc:
            parsed.append(Outcome(crash=f"{type(exc).__name__}: {exc}"))
        else:
            parsed.append(record)
        stamps.append(time.time_ns() // 1000)
    registered: dict[int, Registered] = {}
    if versions is not None:
        at = [i for i, p in enumerate(parsed) if not isinstance(p, Outcome)]
        sightings = [_sighting(jobs[i], parsed[i]) for i in at]  # type: ignore[arg-type]
        try:
            registered = dict(zip(at, versions.register_many(sightings), strict=True))
        except Exception as exc:  # the database unreachable: the whole batch again, later
            crash = f"numbering versions failed: {type(exc).__name__}: {exc}"
            return [
                p if isinstance(p, Outcome) else Outcome(crash=crash, record_id=p.record_id) for p in parsed
            ]
    return [
        p if isinstance(p, Outcome) else _convert(converter, job, p, stamp, ledger_row, registered.get(i))
        for i, (job, p, stamp) in enumerate(zip(jobs, parsed, stamps, strict=True))
    ]


def _sighting(job: Job, record: CanonicalRecord) -> Sighting:
    return Sighting(
        record.kind.value,
        record.record_id,
        job.message_id,
        hashlib.sha256(job.body).hexdigest(),
        last_status_change(record),
        field_paths(record),
    )


def _convert(
    converter: Converter,
    job: Job,
    record: CanonicalRecord,
    parsed: int,
    ledger_row: LedgerRow | None,
    registered: Registered | None,
) -> Outcome:
    number = registered.number if registered is not None else 0
    warnings = registered.lost if registered is not None else ()
    if registered is not None and registered.stale:
        assert registered.current_before is not None
        return Outcome(
            record_id=record.record_id,
            parsed_us=parsed,
            version=number,
            stale=registered.stale_reason(),
            current_version=registered.current_before.number,
            warnings=warnings,
        )
    try:
        accepted = Accepted(record, SOURCE, job.message_id)
        conversion = converter.convert(accepted, only=job.wanted, version=number or None)
        row = ledger_row(record) if ledger_row is not None else None
    except Exception as exc:
        return Outcome(crash=f"{type(exc).__name__}: {exc}", record_id=record.record_id, parsed_us=parsed)
    return Outcome(
        conversion=conversion,
        ledger_row=row,
        record_id=record.record_id,
        parsed_us=parsed,
        converted_us=time.time_ns() // 1000,
        version=number,
        warnings=warnings,
    )


_worker: dict[str, Any] = {}


def init_worker(
    config_path: str | None,
    partners: Sequence[str],
    audit_url: str | None = None,
    versions_url: str | None = None,
) -> None:
    """Process-pool initializer: compile formats and mappings once per process; with the
    audit URL, the credential issuer too (its status lists live in that database); with
    `versions_url`, the version ledger (every process numbers versions in that database)."""
    from exchange.config import load_config
    from exchange.credentials.issuer import issuer_from_env
    from exchange.registry import partner_format
    from exchange.registry import source as load_source
    from exchange.service.store import SoapStore

    config = load_config(Path(config_path) if config_path else None)
    _worker["converter"] = Converter(config, list(partners))
    _worker["source"] = load_source(config)
    _worker["ledger_row"] = SoapStore.certificate_row
    formats = {p: partner_format(config.partners[p]) for p in partners}
    _worker["issuer"] = issuer_from_env(formats, audit_url) if audit_url else None
    _worker["versions"] = VersionLedger(versions_url) if versions_url else None


def convert_jobs(jobs: list[Job]) -> list[Outcome]:
    converter, source = _worker["converter"], _worker["source"]
    row, versions = _worker["ledger_row"], _worker["versions"]
    return issue_outcomes(_worker["issuer"], run_jobs(converter, source, jobs, row, versions))


def issue_outcomes(issuer: CredentialIssuer | None, outcomes: list[Outcome]) -> list[Outcome]:
    """The credential drafts of a batch of outcomes issued (signed) in one go, so what
    reaches the work queues is what is sent. A failure there is the batch's crash."""
    if issuer is None:
        return outcomes
    from exchange.credentials.issuer import issue_conversions

    conversions = [o.conversion for o in outcomes if o.conversion is not None]
    try:
        issue_conversions(issuer, conversions)
    except Exception as exc:  # e.g. the database unreachable: try the batch again
        crash = f"issuing credentials failed: {type(exc).__name__}: {exc}"
        return [
            Outcome(crash=crash, record_id=o.record_id) if o.conversion is not None else o for o in outcomes
        ]
    return outcomes
