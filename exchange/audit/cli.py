"""`exchange audit ...`: trace a message, verify the chain, export for auditors, checkpoint.

Every command takes `--audit URL` (else $EXCHANGE_AUDIT_URL, else ./exchange-audit.db).
Exit codes: 0 done / chain intact; 1 chain broken (verify) or nothing found (trace);
2 usage error or store unreachable, with a one-line message and no traceback.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from exchange.audit import sealing
from exchange.audit.chain import canonical_json
from exchange.audit.checkpoint import (
    Checkpoint,
    load_key,
    read_checkpoint,
    take_checkpoint,
    write_checkpoint,
)
from exchange.audit.entry import StoredEntry, format_time
from exchange.audit.errors import AuditError, CheckpointError
from exchange.audit.open import open_store
from exchange.audit.store import AuditStore
from exchange.logging import redact_text
from exchange.signing import ENV_CERT

app = typer.Typer(help="Audit trail: trace, verify, export.", no_args_is_help=True)

AuditOpt = Annotated[
    str | None,
    typer.Option(
        "--audit",
        metavar="URL",
        help="Audit store URL (default: $EXCHANGE_AUDIT_URL, else sqlite:///exchange-audit.db).",
    ),
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="Checkpoint HMAC key file (default: $EXCHANGE_AUDIT_KEY, $EXCHANGE_AUDIT_KEY_FILE).",
    ),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, secrets masked (driver errors may quote the URL)."""
    typer.echo(f"error: {' '.join(redact_text(message).split())}", err=True)
    raise typer.Exit(code)


@contextmanager
def _store(url: str | None) -> Iterator[AuditStore]:
    """An existing store, read-only in spirit; errors become exit 2 with a message."""
    try:
        store = open_store(url, create=False)
    except AuditError as e:
        _fail(str(e))
    try:
        yield store
    except AuditError as e:
        _fail(str(e))
    finally:
        store.close()


@app.command()
def trace(
    id: Annotated[str, typer.Argument(help="A message id or a record id.")],
    audit: AuditOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """Every entry for a message id or record id, in chain order."""
    with _store(audit) as store:
        entries = store.trace(id)
    if not entries:
        _fail(f"no audit entries for {id!r}", code=1)
    if as_json:
        for entry in entries:
            sys.stdout.write(json.dumps(entry.as_dict(), ensure_ascii=False) + "\n")
        return
    table = Table(title=Text(f"audit trail of {id}"))
    for column in ("seq", "time", "event"):
        table.add_column(column, no_wrap=True)
    for column in ("message", "record", "partner", "actor", "details", "doc sha256"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            *(
                Text(v or "")  # data is never rich markup
                for v in (
                    str(e.seq),
                    format_time(e.time),
                    str(e.event),
                    e.message_id,
                    e.record_id,
                    e.partner,
                    e.actor,
                    canonical_json(e.details) if e.details else "",
                    (e.doc_sha256 or "")[:16],
                )
            )
        )
    console = Console(highlight=False)
    if not console.is_terminal:  # piped or redirected: room for whole lines, not 80 columns
        console.width = 200
    console.print(table)


@app.command()
def verify(
    audit: AuditOpt = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="Also check the chain still holds this signed head."),
    ] = None,
    key_file: KeyFileOpt = None,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint-dir",
            help="Where the service's sealed checkpoints are (default: $EXCHANGE_AUDIT_CHECKPOINT_DIR,"
            " else ~/.local/state/mra-exchange/audit-checkpoints).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Walk the hash chain: exit 0 if intact, 1 naming the first broken entry.

    With a certificate configured ($EXCHANGE_SIGNING_CERT) the chain is also checked against
    the newest checkpoint the service sealed (signed) itself: a cut tail, an emptied store, a
    rewritten and re-hashed chain, a seal that does not verify, or a missing seal exit 1."""
    try:
        cp = read_checkpoint(checkpoint, load_key(key_file)) if checkpoint else None
    except CheckpointError as e:
        _report_broken(as_json, {"ok": False, "kind": "checkpoint", "detail": str(e)}, str(e))
    except AuditError as e:
        _fail(str(e))
    sealed_note = ""
    with _store(audit) as store:
        if cp is None:
            cp, sealed_note = _sealed_checkpoint(store, checkpoint_dir, as_json)
        _signed_start(store, as_json)
        report = store.verify(cp)
    if report.problem is not None:
        p = report.problem
        _report_broken(
            as_json,
            {
                "ok": False,
                "entries": report.entries,
                "seq": p.seq,
                "kind": str(p.kind),
                "detail": p.detail,
            },
            f"entry {p.seq}: {p.kind}: {p.detail}",
        )
    summary = {
        "ok": True,
        "entries": report.entries,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "checkpoint_seq": cp.seq if cp else None,
    }
    if as_json:
        print(json.dumps(summary))
        return
    line = f"intact: {report.entries} entries, head {report.head_seq} {report.head_hash}"
    if cp is not None:
        line += f"; holds {sealed_note or 'checkpoint'} head {cp.seq} of {format_time(cp.time)}"
    print(line)


def _sealed_checkpoint(
    store: AuditStore, folder: Path | None, as_json: bool
) -> tuple[Checkpoint | None, str]:
    """The newest sealed checkpoint of `store`, verified; exits 1 when one is expected and
    missing or does not verify. ("", None) when no certificate is configured."""
    path = sealing.seal_path(store, folder)
    cert = os.environ.get(ENV_CERT)
    if not cert:
        if path.exists():
            typer.echo(
                f"note: {path} was not checked: set ${ENV_CERT} to verify sealed checkpoints", err=True
            )
        return None, ""
    try:
        cert_pem = Path(cert).read_bytes()
    except OSError as e:
        _fail(f"cannot read ${ENV_CERT} {cert}: {e.strerror}")
    if not path.exists():
        if store.head() is None:
            return None, ""
        why = (f"no sealed checkpoint at {path}, though one is expected (${ENV_CERT} is set):"
               " it was deleted, the store moved, or the service never sealed this store")  # fmt: skip
        _report_broken(as_json, {"ok": False, "kind": "checkpoint", "detail": why}, why)
    try:
        return sealing.read_seal(path, cert_pem), "sealed checkpoint"
    except CheckpointError as e:
        _report_broken(as_json, {"ok": False, "kind": "checkpoint", "detail": str(e)}, str(e))


def _signed_start(store: AuditStore, as_json: bool) -> None:
    """After a purge the walk starts where the store says; with a certificate configured,
    that start must carry the service's signature and name the same entry (exit 1 if not)."""
    from exchange.audit import retention

    start = store.chain_start()
    if start is None:
        return
    cert = os.environ.get(ENV_CERT)
    if not cert:
        typer.echo(
            f"note: the kept chain starts at entry {start[0]}; set ${ENV_CERT} to check its signature",
            err=True,
        )
        return
    try:
        cert_pem = Path(cert).read_bytes()
    except OSError as e:
        _fail(f"cannot read ${ENV_CERT} {cert}: {e.strerror}")
    try:
        retention.check_start(store.chain_start_seal(), start, cert_pem)
    except CheckpointError as e:
        _report_broken(as_json, {"ok": False, "kind": "checkpoint", "detail": str(e)}, str(e))


def _report_broken(as_json: bool, doc: dict[str, object], line: str) -> NoReturn:
    print(json.dumps(doc) if as_json else f"BROKEN: {line}")
    raise typer.Exit(1)


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _when(value: str | None, *, end: bool) -> datetime | None:
    """ISO date or datetime, UTC unless it says otherwise; a date `--until` takes the day in."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        t = datetime.fromisoformat(value)
    except ValueError as e:
        raise typer.BadParameter(f"{value!r} is not an ISO date or datetime") from e
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


_CSV_COLUMNS = (
    "seq",
    "time",
    "event",
    "message_id",
    "record_id",
    "partner",
    "actor",
    "details",
    "doc_sha256",
    "prev_hash",
    "hash",
)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """OWASP's rule for CSV injection: a text cell that a spreadsheet would take for a
    formula (it starts with = + - @, tab or CR) is prefixed with a single quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _write_export(entries: Iterator[StoredEntry], fmt: ExportFormat, out: TextIO) -> int:
    n = 0
    if fmt is ExportFormat.csv:
        writer = csv.writer(out)
        writer.writerow(_CSV_COLUMNS)
        for e in entries:
            d = e.as_dict()
            d["details"] = canonical_json(d["details"])
            writer.writerow("" if d[c] is None else spreadsheet_safe(d[c]) for c in _CSV_COLUMNS)
            n += 1
    else:
        for e in entries:
            out.write(json.dumps(e.as_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


@app.command()
def export(
    since: Annotated[
        str | None, typer.Option(help="From this ISO date/datetime on (UTC unless given).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this datetime; a date includes that whole day.")
    ] = None,
    partner: Annotated[str | None, typer.Option(help="Only entries for this partner.")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = (ExportFormat.jsonl),
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    audit: AuditOpt = None,
) -> None:
    """Stream entries for auditors, in chain order.

    CSV cells that begin with =, +, -, @, a tab or a carriage return are prefixed with a
    single quote (OWASP's rule against CSV injection), so a spreadsheet shows them as text
    instead of running them; JSON Lines are written as they are."""
    start, stop = _when(since, end=False), _when(until, end=True)
    if start and stop and start >= stop:
        raise typer.BadParameter("--since must be before --until")
    with _store(audit) as store:
        entries = store.export(start, stop, partner)
        if out is None:
            try:
                _write_export(entries, fmt, sys.stdout)
                sys.stdout.flush()
            except BrokenPipeError:  # `| head`: the reader has what it wanted
                sys.stderr.close()
            return
        try:
            with out.open("w", encoding="utf-8", newline="") as f:
                n = _write_export(entries, fmt, f)
        except OSError as e:
            _fail(f"cannot write {out}: {e.strerror}")
    typer.echo(f"exported {n} entries to {out}", err=True)


@app.command()
def checkpoint(
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed checkpoint.")],
    audit: AuditOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Sign the current chain head into a file kept apart from the store."""
    try:
        key = load_key(key_file)
    except AuditError as e:
        _fail(str(e))
    with _store(audit) as store:
        cp = take_checkpoint(store)
    try:
        write_checkpoint(out, cp, key)
    except OSError as e:
        _fail(f"cannot write {out}: {e.strerror}")
    print(f"checkpoint: head {cp.seq} {cp.hash} written to {out}")


@app.command()
def purge(
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            help="ISO date/datetime (UTC unless given); default: each agreement's"
            " options.audit_retention_days.",
        ),
    ] = None,
    audit: AuditOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="Agreements file (for the policy).")] = None,
) -> None:
    """Retention: remove archived documents kept before DATE and the audit entries before
    the first one stamped at or after it. The kept chain still verifies: the store records
    where it now starts, signed with the service's key when one is configured
    ($EXCHANGE_SIGNING_KEY / _CERT), and `audit verify` walks from there.

    Without --before, each agreement's `options.audit_retention_days` applies: that
    partner's archived documents older than it go; audit entries go only before the
    longest retention of all agreements, and not at all while any agreement has none."""
    from exchange.archive import DocumentArchive
    from exchange.audit import retention
    from exchange.config import load_config
    from exchange.errors import ExchangeError

    now = datetime.now(UTC)
    if before is not None:
        when = _when(before, end=False)
        assert when is not None
        plan = retention.Policy(when, {}, ())
    else:
        try:
            plan = retention.policy(load_config(config), now)
        except (AuditError, ExchangeError) as e:
            _fail(str(e))
        if plan.chain_before is None and not plan.archive_before:
            _fail("nothing to purge: give --before DATE, or set options.audit_retention_days in an agreement")
    try:
        signer = sealing.signer_from_env()
    except Exception as e:  # a configured key that cannot be used must not purge unsigned
        _fail(f"cannot use the service's signing key: {e}")
    removed, start = 0, None
    with _store(audit) as store:
        if plan.chain_before is not None:
            seal = None
            if signer is not None:
                where = store.describe()

                def seal(seq: int, prev_hash: str, cut: str) -> str:
                    return retention.sign_start(signer, seq, prev_hash, cut, where, now)

            removed, start = store.purge(plan.chain_before, seal)
            if signer is not None:  # and the head, as the service does: verify expects both
                sealing.seal(store, signer)
    archive = DocumentArchive(audit)  # the same database: the audit URL's
    try:
        if before is not None:
            documents = archive.purge(plan.chain_before)  # type: ignore[arg-type]
        else:
            documents = sum(archive.purge(cut, partner) for partner, cut in plan.archive_before.items())
    finally:
        archive.close()
    if plan.chain_before is None:
        print(f"purged 0 entries and {documents} archived documents by each agreement's retention")
        print(f"the chain is kept whole: no audit_retention_days for {', '.join(plan.kept_for_ever)}")
        return
    print(
        f"purged {removed} entries and {documents} archived documents before {format_time(plan.chain_before)}"
    )
    print(
        f"the kept chain starts at entry {start}"
        + ("" if signer else " (unsigned: no service key configured)")
    )


@app.command()
def migrate(audit: AuditOpt = None) -> None:
    """Convert a store in the previous text format (table audit_entries) to the compact one.

    The hashes are over the entries' texts, which both formats hold exactly: the chain and
    every sealed checkpoint stay valid. The old chain must verify first; the old table is
    dropped once every entry is copied and the new chain verifies."""
    from exchange.audit.migrate import migrate as run_migration

    try:
        store = open_store(audit, migrating=True)
    except AuditError as e:
        _fail(str(e))
    try:
        if not store._has_old():
            store.close()
            _fail(f"{store.describe()} holds no trail in the previous format: nothing to migrate")
        copied, report = run_migration(store)
    except AuditError as e:
        _fail(str(e), code=1)
    finally:
        store.close()
    print(f"migrated {copied} entries; intact: {report.entries} entries, head {report.head_seq}")
