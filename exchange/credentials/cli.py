"""`exchange did-document` and `exchange verify-credential`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from exchange.errors import ExchangeError

err = Console(stderr=True, highlight=False, soft_wrap=True)


def did_document_command() -> None:
    """Print the issuer's DID document (EXCHANGE_ISSUER_DID, the credential key's public JWK),
    as `exchange run` serves it at /.well-known/did.json."""
    from exchange.credentials.did import Issuer, did_document
    from exchange.credentials.keys import ENV_CREDENTIAL_KEY, CredentialKey

    try:
        key = CredentialKey.from_env()
        issuer = Issuer.from_env()
    except ExchangeError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if key is None:
        err.print(
            f"[bold red]error:[/] no credential key: set {ENV_CREDENTIAL_KEY} (`exchange keys generate`)"
        )
        raise typer.Exit(2)
    typer.echo(json.dumps(did_document(issuer, key), indent=2))


def verify_credential(
    sources: Annotated[list[str], typer.Argument(help="Credentials (.jwt files or URLs).")],
    did_document: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--did-document", help="The issuer's DID document, a local file."),
    ] = None,
    status_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--status-dir", help="Status lists: DIR/<purpose>/<n>.jwt (default: status/ beside each file)."
        ),
    ] = None,
    fetch: Annotated[
        bool,
        typer.Option(
            "--fetch", help="Fetch DID documents and status lists (loopback and --allow-host only)."
        ),
    ] = False,
    allow_host: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--allow-host", help="A host --fetch may reach besides loopback (https)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per credential.")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="Agreements file.")] = None,  # noqa: UP045
) -> None:
    """Verify vc+jwt credentials: signature (issuer's DID document), schema, status lists.
    Prints issuer, subject, valid/invalid with the reason and active/suspended/revoked."""
    from exchange.config import load_config
    from exchange.credentials.verify import Verifier, read_source
    from exchange.registry import partner_format

    try:
        cfg = load_config(config)
        formats = {p: partner_format(a) for p, a in cfg.partners.items()}
        doc = json.loads(did_document.read_bytes()) if did_document is not None else None
    except (ExchangeError, OSError, ValueError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    verifier = Verifier(
        {p: f for p, f in formats.items() if f.issues_credentials},
        did_document=doc,
        status_dir=status_dir,
        fetch=fetch,
        allowed_hosts=frozenset(h.lower() for h in allow_host or []),
    )
    invalid = 0
    for source in sources:
        try:
            data, near = read_source(source, verifier)
        except OSError as exc:
            err.print(f"[bold red]error:[/] {source}: {exc}")
            raise typer.Exit(2) from None
        except ExchangeError as exc:
            data, near = b"", None
            verdict = verifier.verify(source, data, near)
            verdict.reason = str(exc)
        else:
            verdict = verifier.verify(source, data, near)
        invalid += not verdict.valid
        if as_json:
            typer.echo(json.dumps(verdict.as_dict(), ensure_ascii=False))
            continue
        state = "valid" if verdict.valid else f"invalid: {verdict.reason}"
        typer.echo(
            f"{source}: {state}; {verdict.status}; issuer {verdict.issuer or '?'}; "
            f"subject {verdict.subject or '?'}"
        )
    if invalid:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("did-document")(did_document_command)
    app.command("verify-credential")(verify_credential)
