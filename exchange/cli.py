"""The `exchange` command: one typer app, sub-apps mounted from their own modules.

Exit codes everywhere: 0 success, 1 some records or documents were rejected or
invalid, 2 usage errors and unreadable input.
"""

from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from exchange.audit.cli import app as audit_app
from exchange.commands.inputs import DOCUMENT_SUFFIXES, DOMESTIC_SUFFIXES
from exchange.config import ExchangeConfig, load_config
from exchange.console.cli import register_console
from exchange.credentials.cli import register as register_credentials
from exchange.errors import DocumentError, ExchangeError, RecordError
from exchange.model import Kind
from exchange.pipeline import OutOfScope
from exchange.pt.cli import app as pt_app
from exchange.service.cli import register as register_amqp
from exchange.service.ops_cli import register_ops
from exchange.soap.cli import register_soap

app = typer.Typer(
    name="exchange",
    help="mra-exchange: conformity-assessment results to and from MRA partners.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(pt_app, name="pt")
app.add_typer(audit_app, name="audit")
schema_app = typer.Typer(help="Canonical model JSON Schemas.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
bench_app = typer.Typer(
    help="Benchmarks, each beside a baseline measured in the same run.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")
register_amqp(app, bench_app)
register_ops(app)
register_soap(app, bench_app)
register_console(app)
register_credentials(app)

err = Console(stderr=True, highlight=False, soft_wrap=True)

RecursiveOption = Annotated[
    bool, typer.Option("--recursive", "-r", help="Folders: read their sub-folders too.")
]
ConfigOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--config", help="Agreements file (default: EXCHANGE_CONFIG or the shipped one)."),
]
AuditOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--audit", help="Audit store URL (default: EXCHANGE_AUDIT_URL or sqlite:///exchange-audit.db)."
    ),
]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@app.callback()
def _root() -> None:
    """mra-exchange command line."""


@app.command()
def convert(
    paths: Annotated[
        list[Path], typer.Argument(help="Domestic exports: .json, .jsonl, .csv, or folders of them.")
    ],
    partner: Annotated[list[str], typer.Option("--partner", "-p", help="Partner(s) to convert for.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    encoding: Annotated[Optional[str], typer.Option(help="Force the CSV encoding (utf-8, gb18030).")] = None,  # noqa: UP045
    kind: Annotated[Optional[Kind], typer.Option(help="Record family; detected when absent.")] = None,  # noqa: UP045
    config: ConfigOption = None,
    audit: AuditOption = None,
    recursive: RecursiveOption = False,
) -> None:
    """Convert domestic exports into partners' validated documents: OUT/<partner>/<kind>-<id>.xml."""
    from exchange.archive import DocumentArchive
    from exchange.audit import open_store, resolve_audit_url
    from exchange.audit.sealing import seal_if_configured
    from exchange.commands.convert import convert_files
    from exchange.credentials.issuer import NO_KEY_NOTE, issuer_from_env
    from exchange.registry import partner_format

    paths = _inputs(paths, DOMESTIC_SUFFIXES, recursive)
    try:
        cfg = load_config(config)
        url = resolve_audit_url(audit)
        store = open_store(url)
        formats = {p: partner_format(cfg.partners[p]) for p in partner if p in cfg.partners}
        issuing = issuer_from_env(formats, url)
        archive = DocumentArchive(url)
    except ExchangeError as exc:
        raise _fail(str(exc), 2) from None
    if issuing is not None and issuing.key is None:
        err.print(f"[yellow]note:[/] {NO_KEY_NOTE}")
    progress = _progress()
    try:
        with store, progress, closing(archive):
            task = progress.add_task("converting", total=None)
            report = convert_files(
                paths,
                partner,
                out,
                config=cfg,
                audit=store,
                archive=archive,
                kind=kind,
                encoding=encoding,
                on_record=lambda: progress.advance(task),
                issuing=issuing,
            )
            try:  # the head, signed, kept apart: see exchange/audit/sealing.py
                seal_if_configured(store)
            except (ExchangeError, OSError) as exc:
                err.print(f"[yellow]warning:[/] the audit chain head was not sealed: {exc}")
    except RecordError as exc:  # pragma: no cover - per-record errors become rejects
        raise _fail(str(exc), 1) from None
    except ExchangeError as exc:
        raise _fail(str(exc), 2) from None
    finally:
        if issuing is not None:
            issuing.store.close()
    for note, count in _skipped_lines(report.skipped):
        err.print(f"not converted: {note}" + (f" ({count} records)" if count > 1 else ""))
    for warning in report.warnings:
        err.print(warning)
    docs = ", ".join(f"{p}: {n}" for p, n in sorted(report.documents.items())) or "none"
    versions = f" ({report.versions} later versions of records already read)" if report.versions else ""
    err.print(
        f"{report.records} records read{versions}; documents written: {docs}; rejected: {report.rejects}"
    )
    if issuing is not None:
        signed = ", ".join(f"{p}: {n}" for p, n in sorted(report.signed.items())) or "none"
        err.print(
            f"credentials signed as vc+jwt ({issuing.issuer.did}): {signed}; "
            f"status lists written: {len(report.status_lists)}"
        )
    if not report.ok:
        err.print(f"rejects are listed in {out / 'rejects.jsonl'}")
        raise typer.Exit(1)


def _skipped_lines(skipped: list[OutOfScope]) -> list[tuple[str, int]]:
    from exchange.commands.convert import skipped_summary

    if len(skipped) <= 50:
        return [(f"{s.kind}-{s.record_id} for {s.partner}: {s.reason}", 1) for s in skipped]
    return skipped_summary(skipped)


class _Quiet:
    """Stands in for a progress bar when stderr is not a terminal."""

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: object, **kwargs: object) -> int:
        return 0

    def advance(self, task: int) -> None:
        return None


def _progress() -> _Quiet:
    if not sys.stderr.isatty():
        return _Quiet()
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(  # type: ignore[return-value]
        SpinnerColumn(),
        TextColumn("{task.description}: {task.completed} records"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Partner documents (XML or JSON-LD), or folders.")],
    config: ConfigOption = None,
    recursive: RecursiveOption = False,
) -> None:
    """Validate documents against the schema their root namespace names."""
    from exchange.commands.documents import validate_document

    files = _inputs(files, DOCUMENT_SUFFIXES, recursive)
    cfg = _config_or_exit(config)
    invalid = 0
    for path in files:
        data = _read_or_exit(path)
        try:
            partner, kind = validate_document(data, cfg)
        except DocumentError as exc:
            invalid += 1
            err.print(f"{path}: invalid: {exc.reason}")
            for message in exc.messages:
                err.print(f"  {path}:{message}")
            continue
        typer.echo(f"{path}: valid ({partner} {kind})")
    if invalid:
        raise typer.Exit(1)


@app.command(name="import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="Partner documents to read back, or folders.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for canonical JSON.")],
    config: ConfigOption = None,
    recursive: RecursiveOption = False,
) -> None:
    """Read partner documents back into canonical JSON: OUT/<kind>-<id>.json."""
    from exchange.commands.documents import import_document, write_canonical

    files = _inputs(files, DOCUMENT_SUFFIXES, recursive)
    cfg = _config_or_exit(config)
    failed = 0
    for path in files:
        data = _read_or_exit(path)
        try:
            partner, record = import_document(data, cfg)
        except (DocumentError, RecordError) as exc:
            failed += 1
            err.print(f"{path}: not imported: {exc}")
            if isinstance(exc, DocumentError):
                for message in exc.messages:
                    err.print(f"  {path}:{message}")
            continue
        try:
            target = write_canonical(record, out)
        except OSError as exc:
            raise _fail(f"cannot write to {out}: {exc.strerror or exc}", 2) from None
        typer.echo(f"{path}: {partner} {record.kind} {record.record_id} -> {target}")
    if failed:
        raise typer.Exit(1)


@schema_app.command("export")
def schema_export(
    out: Annotated[Optional[Path], typer.Option(help="Folder (default: schemas/canonical).")] = None,  # noqa: UP045
) -> None:
    """Write the canonical model's JSON Schemas."""
    from exchange.commands.schema import export_schemas

    for path in export_schemas(out):
        typer.echo(str(path))


def _inputs(paths: list[Path], suffixes: tuple[str, ...], recursive: bool) -> list[Path]:
    """Files as given, folders as their supported files in name order; else exit 2."""
    from exchange.commands.inputs import InputError, expand

    try:
        return expand(paths, suffixes, recursive)
    except InputError as exc:
        raise _fail(str(exc), 2) from None


def _config_or_exit(path: Path | None) -> ExchangeConfig:
    try:
        return load_config(path)
    except ExchangeError as exc:
        raise _fail(str(exc), 2) from None


def _read_or_exit(path: Path) -> bytes:
    from exchange.commands.documents import UnreadableInput, read_document

    try:
        return read_document(path)
    except UnreadableInput as exc:
        raise _fail(str(exc), 2) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
