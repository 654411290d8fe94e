"""CLI of the SOAP endpoint and its keys: `exchange serve-soap`, `exchange keys generate`,
`exchange keys hash-password`. Registered on the main app with `register_soap(app)`."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from exchange.errors import ExchangeError

err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[Optional[Path], typer.Option("--config", help="Agreements file.")]  # noqa: UP045
AuditOption = Annotated[Optional[str], typer.Option("--audit", help="Audit store URL.")]  # noqa: UP045
AmqpOption = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--amqp", help="Broker for the handoff to domestic systems (default: EXCHANGE_AMQP_URL)."),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")  # messages quote configuration: no markup
    return typer.Exit(code)


def serve_soap(
    http: Annotated[str, typer.Option("--http", help="Listen on HOST:PORT (port 0: any free port).")] = (
        "127.0.0.1:8080"
    ),
    tls_cert: Annotated[Optional[Path], typer.Option(help="TLS certificate (PEM) for HTTPS.")] = None,  # noqa: UP045
    tls_key: Annotated[Optional[Path], typer.Option(help="TLS private key (PEM) for HTTPS.")] = None,  # noqa: UP045
    amqp: AmqpOption = None,
    config: ConfigOption = None,
    audit: AuditOption = None,
) -> None:
    """Serve the SOAP endpoint (schemas/soap/exchange-1.0.wsdl) at /soap/v1 until SIGTERM.

    Receipts are signed with EXCHANGE_SIGNING_KEY / EXCHANGE_SIGNING_CERT.
    """
    from exchange.audit import open_store, resolve_audit_url
    from exchange.config import load_config
    from exchange.logging import configure_logging
    from exchange.service.broker import BrokerUnavailable, connect_blocking
    from exchange.service.settings import AmqpSettings
    from exchange.signing import Signer
    from exchange.soap import SoapStore, TlsSettings
    from exchange.soap.endpoint import contract_notice, start_endpoint
    from exchange.soap.settings import parse_address

    try:
        parse_address(http)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if (tls_cert is None) != (tls_key is None):
        raise _fail("--tls-cert and --tls-key go together")
    configure_logging()
    tls = None if tls_cert is None or tls_key is None else TlsSettings(tls_cert, tls_key)
    url = amqp or AmqpSettings().url
    try:
        cfg = load_config(config)
        Signer.from_env()  # no receipts without a key: say so before anything else
        connect_blocking(url).close()  # a clear error now beats a fault per request later
        audit_url = resolve_audit_url(audit)
        store, soap_store = open_store(audit_url), SoapStore(audit_url)
    except (ExchangeError, BrokerUnavailable) as exc:
        raise _fail(str(exc)) from None
    try:
        endpoint = start_endpoint(cfg, audit=store, store=soap_store, amqp_url=url, http=http, tls=tls)
    except (ExchangeError, OSError, ValueError) as exc:
        store.close()
        soap_store.close()
        raise _fail(f"cannot serve on {http}: {exc}") from None
    wsdl, warning = contract_notice(endpoint.soap.app)
    err.print(f"serving {endpoint.url} (WSDL: {escape(wsdl)})")
    if warning:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    if endpoint.partners_without_credentials:
        names = ", ".join(endpoint.partners_without_credentials)
        err.print(f"[yellow]warning:[/] no SOAP credentials for {names}: their requests are refused")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        endpoint.stop()
        store.close()
        soap_store.close()
    err.print("stopped")


def keys_generate(
    out: Annotated[Path, typer.Option("--out", help="Folder for signing-key.pem and signing-cert.pem.")],
    name: Annotated[str, typer.Option(help="Certificate subject common name.")] = "mra-exchange development",
    days: Annotated[int, typer.Option(help="Certificate validity in days.")] = 365,
    force: Annotated[bool, typer.Option(help="Replace an existing pair.")] = False,
) -> None:
    """Make a development signing key pair (RSA-3072, self-signed) for XML signatures and an
    EC P-256 key for credentials (vc+jwt). Never commit them."""
    from exchange.credentials.keys import ENV_CREDENTIAL_KEY, generate_credential_key
    from exchange.signing import ENV_CERT, ENV_KEY, generate_key_pair

    try:
        files = generate_key_pair(out, common_name=name, days=days, force=force)
        credential_key = generate_credential_key(out, force=force)
    except ExchangeError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write to {out}: {exc}") from None
    repo = _work_tree(out)
    if repo is not None:
        exposed = [f for f in (files.key, credential_key, files.certificate) if not _ignored_by_git(repo, f)]
        if exposed:
            names = " and ".join(str(f) for f in exposed)
            err.print(
                f"[yellow]warning:[/] {out} is inside the git work tree {repo} and git does not ignore"
                f" {names}: add *.pem to {repo / '.gitignore'}"
            )
    err.print(f"wrote {files.key} and {credential_key} (private, mode 0600) and {files.certificate}")
    typer.echo(f"export {ENV_KEY}={files.key.resolve()}")
    typer.echo(f"export {ENV_CERT}={files.certificate.resolve()}")
    typer.echo(f"export {ENV_CREDENTIAL_KEY}={credential_key.resolve()}")


def keys_hash_password() -> None:
    """Hash a partner's SOAP password (read from stdin, or prompted) for soap_password_hash."""
    from exchange.soap.credentials import hash_password

    if sys.stdin.isatty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        raise _fail("the password must be at least 12 characters")
    typer.echo(hash_password(password))


def bench_soap(
    count: Annotated[
        int, typer.Option("--count", "-n", help="Requests per leg (after a short warm-up).")
    ] = 2000,
    audit: AuditOption = None,
    rounds: Annotated[int, typer.Option(help="The legs alternate in this many rounds.")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON only.")] = False,
) -> None:
    """SubmitDocument round trips/s with zeep and deliveries/s to the EU simulator, each beside
    bare HTTP posts of the same envelopes to the same server; everything on loopback, made
    for the run (keys, credentials, endpoint, simulator) and removed after. Audit: a
    temporary SQLite file unless --audit names a store."""
    import json

    from exchange.logging import configure_logging
    from exchange.transports.soap_push.bench import bench_soap as run_bench

    if count < 1 or rounds < 1:
        raise _fail("--count and --rounds must be at least 1")
    configure_logging(level="WARNING")  # a line per message would be measured too
    try:
        report = run_bench(count, audit, rounds=rounds)
    except (ExchangeError, OSError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report))
        return
    rows = [
        ("SubmitDocument (zeep → our endpoint)", "submit"),
        ("delivery (our client → EU simulator)", "deliver"),
    ]
    typer.echo(f"{'':40} {'ours/s':>10} {'bare POST/s':>12} {'ratio':>7} {'answered':>17}")
    for label, key in rows:
        ours, bare = report[key], report[f"{key}_baseline"]
        answered = f"{ours['answered']}+{bare['answered']}/{ours['requests'] + bare['requests']}"
        typer.echo(
            f"{label:40} {report[f'{key}_per_s']:>10,.1f} {report[f'{key}_baseline_per_s']:>12,.1f} "
            f"{report[f'{key}_ratio']:>7.3f} {answered:>17}"
        )
    typer.echo(
        f"{count} requests per leg in {rounds} rounds, one at a time over loopback keep-alive HTTP; "
        f"envelopes {report['submit_envelope_bytes']} / {report['deliver_envelope_bytes']} bytes"
    )


def _ignored_by_git(repo: Path, path: Path) -> bool:
    """Whether git ignores `path` in `repo` (unknown, e.g. no git: False, so the warning stays)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "check-ignore", "-q", str(path.resolve())],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def _work_tree(path: Path) -> Path | None:
    for folder in [path.resolve(), *path.resolve().parents]:
        if (folder / ".git").exists():
            return folder
    return None


def register_soap(app: typer.Typer, bench: typer.Typer | None = None) -> None:
    """The endpoint's and keys' commands on `app`; `exchange bench soap` on `bench` if given."""
    app.command(name="serve-soap")(serve_soap)
    if bench is not None:
        bench.command("soap")(bench_soap)
    keys = typer.Typer(help="Signing keys and SOAP credentials.", no_args_is_help=True)
    keys.command("generate")(keys_generate)
    keys.command("hash-password")(keys_hash_password)
    app.add_typer(keys, name="keys")


def main() -> None:
    """`python -m exchange.soap.cli` until the main CLI registers these commands."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    register_soap(app)
    app()


if __name__ == "__main__":
    main()
