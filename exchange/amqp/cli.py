"""CLI commands of the message-driven service: run, publish, simulate-partner, topology,
partner provisioning. Registered on the main app by exchange/cli.py."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from exchange.amqp.settings import AmqpSettings
from exchange.errors import ExchangeError, RecordError
from exchange.soap.settings import DEFAULT_ENDPOINT

err = Console(stderr=True, highlight=False, soft_wrap=True)

AmqpOption = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option(
        "--amqp", help="Broker URL (default: EXCHANGE_AMQP_URL or amqp://guest:guest@localhost:5672/)."
    ),
]
ConfigOption = Annotated[Optional[Path], typer.Option("--config", help="Agreements file.")]  # noqa: UP045
AuditOption = Annotated[Optional[str], typer.Option("--audit", help="Audit store URL.")]  # noqa: UP045


def _settings(amqp: str | None) -> AmqpSettings:
    settings = AmqpSettings()
    if amqp:
        settings = settings.model_copy(update={"url": amqp})
    return settings


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def run(
    partner: Annotated[list[str] | None, typer.Option("--partner", "-p", help="Only these partners.")] = None,
    http: Annotated[
        str, typer.Option("--http", help="HTTP front (SOAP, console, metrics) on HOST:PORT.")
    ] = "127.0.0.1:8080",
    no_http: Annotated[bool, typer.Option("--no-http", help="Workers only (no HTTP endpoint).")] = False,
    amqp: AmqpOption = None,
    config: ConfigOption = None,
    audit: AuditOption = None,
) -> None:
    """Run the service: intake, conversion, deliveries, partners' records, and on --http the SOAP
    endpoint, the operations console (/ops), /metrics, /healthz and /readyz."""
    from exchange.amqp.service import BrokerUnavailable, Service, ServiceOptions, connect_blocking
    from exchange.archive import DocumentArchive
    from exchange.audit import open_store, resolve_audit_url
    from exchange.config import load_config
    from exchange.logging import configure_logging
    from exchange.metrics import Metrics
    from exchange.soap.endpoint import build_endpoint, contract_notice
    from exchange.soap.store import SoapStore
    from exchange.state import StateStore

    configure_logging()
    settings = _settings(amqp)
    try:
        cfg = load_config(config)
        connect_blocking(settings.url).close()  # a clear error now beats a silent retry loop
        url = resolve_audit_url(audit)
        store = open_store(url)
        state = StateStore(url)
        soap_store = SoapStore(url)
        archive = DocumentArchive(url)
        metrics = Metrics()
        service = Service(
            cfg, store, state, settings, ServiceOptions(partners=partner or None),
            soap_store=soap_store, metrics=metrics, audit_url=url, archive=archive,
            signer=_signer_or_none(),
        )  # fmt: skip
    except BrokerUnavailable as exc:
        raise _fail(str(exc)) from None
    except ExchangeError as exc:
        raise _fail(str(exc)) from None
    server = None
    soap = None
    if not no_http:
        try:
            soap = build_endpoint(cfg, audit=store, store=soap_store, amqp_url=settings.url)
        except ExchangeError as exc:
            err.print(f"[yellow]warning:[/] SOAP endpoint not configured: {exc}")
        try:
            server = _serve_front(service, store, soap, http)
        except (OSError, ValueError) as exc:
            raise _fail(f"cannot serve on {http}: {exc}") from None
        except ExchangeError as exc:  # e.g. an unreadable console users file
            raise _fail(str(exc)) from None
        err.print(f"serving http://{http}: /soap/v1, /ops, /metrics, /healthz, /readyz")
        if soap is not None:
            wsdl, warning = contract_notice(soap.app)
            err.print(f"WSDL: {escape(wsdl)}")
            if warning:
                err.print(f"[yellow]warning:[/] {escape(warning)}")
    try:
        service.run()
    except ExchangeError as exc:  # e.g. the broker holds a queue with other arguments
        raise _fail(str(exc)) from None
    finally:
        if server is not None:
            server.stop()
        if soap is not None:
            soap.close()
        store.close()
        state.close()
        soap_store.close()
        archive.close()


def _signer_or_none() -> Any:
    """Our key pair (EXCHANGE_SIGNING_KEY / _CERT), which signs what pull partners fetch;
    without one the SOAP endpoint is not served either, so nobody pulls."""
    from exchange.errors import ConfigError
    from exchange.signing import Signer

    try:
        return Signer.from_env()
    except ConfigError:
        return None


def _answers(query: Any) -> bool:
    """A readiness check: the store answered a query (whatever the answer)."""
    query()
    return True


def _serve_front(service: Any, store: Any, soap: Any, http: str) -> Any:
    """One HTTP server for the SOAP endpoint, metrics and health (see exchange/http.py)."""
    from exchange.http import build_front
    from exchange.soap.server import serve
    from exchange.soap.settings import DEFAULT_PATH, parse_address

    host, port = parse_address(http)
    front = build_front(
        service.metrics,
        {"broker": service.ready.is_set, "audit": lambda: _answers(store.head),
         "schemas": lambda: bool(service.converter.routes)},
        soap.app if soap is not None else None,
        soap.settings.path if soap is not None else DEFAULT_PATH,
        console=_console(service, store),
    )  # fmt: skip
    server = serve(front, host, port)
    if soap is not None:
        soap.app.listening_at(server.base_url)
    return server


def _console(service: Any, store: Any) -> Any:
    """The operations console on the service's own stores (users: EXCHANGE_CONSOLE_USERS)."""
    from exchange.amqp.ops import collect_status
    from exchange.audit import open_store
    from exchange.console.accounts import accounts_from_env
    from exchange.console.backend import ConsoleBackend
    from exchange.console.web import ConsoleApp
    from exchange.soap.outbound import ReceiptStore

    url = service.audit_url
    backend = ConsoleBackend(
        config=service.config,
        audit=store,
        status=lambda: collect_status(
            service.config, service.settings.url, lambda: open_store(url, create=False)
        ),
        state=service.state,
        archive=service.archive,
        amqp_url=service.settings.url,
        soap_receipts=ReceiptStore(url),
        breakers=service.circuit_states,
    )
    accounts = accounts_from_env()
    if accounts is None:
        err.print("[yellow]warning:[/] console at /ops has no users: set EXCHANGE_CONSOLE_USERS (see README)")
    return ConsoleApp(backend, accounts)


def publish(
    files: Annotated[list[Path], typer.Argument(help="Domestic exports (.json, .jsonl).")],
    partner: Annotated[
        list[str] | None, typer.Option("--partner", "-p", help="Only for these partners.")
    ] = None,
    amqp: AmqpOption = None,
    config: ConfigOption = None,
) -> None:
    """Publish domestic records to cn.domestic.in (one message a record), confirms pipelined."""
    from exchange.amqp.publish import Outgoing, publish_many
    from exchange.amqp.service import BrokerUnavailable
    from exchange.amqp.topology import DOMESTIC_IN
    from exchange.config import load_config
    from exchange.registry import source as load_source

    for path in files:
        if not path.is_file():
            raise _fail(f"{path}: no such file")
    cfg = load_config(config)
    src = load_source(cfg)
    counted = {"n": 0}

    skipped: list[str] = []

    def messages() -> Iterator[Outgoing]:
        import pika

        for path in files:
            for location, text in src.raw_records(path):
                if isinstance(text, RecordError):  # unreadable even as text: nothing to send
                    skipped.append(f"{path} {location}: {text.reason}")
                    continue
                body = text.encode()
                kind = _kind_of(src, text)
                digest = hashlib.sha256(body).hexdigest()[:16]
                headers = {"partners": list(partner)} if partner else {}
                props = pika.BasicProperties(
                    delivery_mode=2,
                    content_type="application/json",
                    message_id=f"{path.stem}-{digest}",
                    type=kind,
                    headers=headers,
                )
                counted["n"] += 1
                yield Outgoing(DOMESTIC_IN, kind or "unknown", body, props)

    try:
        report = publish_many(_settings(amqp).url, messages())
    except BrokerUnavailable as exc:
        raise _fail(str(exc)) from None
    err.print(f"published {report.confirmed} of {counted['n']} records to {DOMESTIC_IN}")
    for note in skipped:
        err.print(f"  not published: {note}")
    for mid, reason in report.failed:
        err.print(f"  not published: {mid}: {reason}")
    if report.failed or skipped:
        raise typer.Exit(1)


def _kind_of(src: Any, text: str) -> str | None:
    """The routing key: the record's family when its content tells, else None (the
    service then rejects it, audited, with its reason)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    kind = src.detect_kind(obj) if isinstance(obj, dict) else None
    return kind.value if kind is not None else None


def simulate_partner(
    partner: Annotated[str, typer.Argument(help="Which partner to play (kr, eu, nz).")],
    mode: Annotated[str, typer.Option(help="kr: ack | warn | reject | silent | twice")] = "ack",
    reject_reason: Annotated[str, typer.Option(help="Reason given in reject mode.")] = "simulated rejection",
    publish_records: Annotated[
        list[Path] | None, typer.Option("--publish", help="Partner documents to send us (kr, nz).")
    ] = None,
    stats: Annotated[Optional[Path], typer.Option(help="Write delivery counts here (JSON).")] = None,  # noqa: UP045
    password: Annotated[
        str | None, typer.Option(envvar="EXCHANGE_PARTNER_PASSWORD", help="The partner user's password.")
    ] = None,
    port: Annotated[
        int, typer.Option(help="eu: the port to serve on; nz: the port of its control page.")
    ] = 8091,
    fault: Annotated[
        str,
        typer.Option(
            help="eu: none, down, slow, http-500, malformed, soap-fault, reject, warn, bad-signature, "
            "duplicate-receipt; nz: none, down, slow, ack-failed, ack-warn, no-ack, duplicate-ack, "
            "malformed, wrong-credentials."
        ),
    ] = "none",
    keys: Annotated[
        Path | None,
        typer.Option(help="eu: the simulator's key pair folder (default sim-keys/eu); nz: sign with it."),
    ] = None,
    sender_cert: Annotated[
        Path | None, typer.Option(help="SOAP partners: our certificate, to check our signatures.")
    ] = None,
    endpoint: Annotated[str, typer.Option(help="nz: our SOAP endpoint to pull from.")] = DEFAULT_ENDPOINT,
    username: Annotated[
        str | None, typer.Option(help="nz: WS-Security username (default: as the agreement says).")
    ] = None,
    secret_file: Annotated[
        Path | None, typer.Option(help="nz: the shared secret (default: as the agreement says).")
    ] = None,
    interval: Annotated[float, typer.Option(help="nz: seconds between polls when nothing waits.")] = 1.0,
    amqp: AmqpOption = None,
    config: ConfigOption = None,
) -> None:
    """Play a partner: kr over AMQP (its own vhost and user: acknowledge, reject, stay
    silent...); eu over SOAP, serving on --port (with switchable faults); nz over SOAP,
    pulling from --endpoint (faults switchable on its control page at --port)."""
    import signal

    from exchange.amqp.provision import PartnerVhost, provision
    from exchange.amqp.settings import with_user, with_vhost
    from exchange.amqp.simulator import Mode, PartnerSimulator
    from exchange.config import load_config
    from exchange.registry import partner_format

    cfg = load_config(config)
    agreement = cfg.partners.get(partner)
    if agreement is not None and agreement.transport == "soap":
        from exchange.soap.sim_cli import simulate_partner_soap

        raise typer.Exit(
            simulate_partner_soap(
                partner, port=port, fault=fault, keys=keys, sender_cert=sender_cert,
                reject_reason=reject_reason, stats=stats, config=cfg, endpoint=endpoint,
                username=username, secret_file=secret_file, interval_s=interval,
                publish=publish_records or (),
            )
        )  # fmt: skip
    if agreement is None or agreement.transport != "amqp":
        raise _fail(f"{partner} is not a partner that exchanges over AMQP or SOAP")
    try:
        sim_mode = Mode(mode)
    except ValueError:
        raise _fail(f"unknown mode {mode!r}: ack, warn, reject, silent or twice") from None
    settings = _settings(amqp)
    pv = PartnerVhost.of(agreement)
    secret = password or f"{partner}-dev-password"
    if password is None:
        from urllib.parse import urlsplit

        provision(pv, secret, urlsplit(settings.url).username or "guest")
    url = with_user(with_vhost(settings.url, pv.vhost), pv.user, secret)
    sim = PartnerSimulator(url, pv, partner_format(agreement), sim_mode, stats, reject_reason)
    if publish_records:
        ids = sim.publish_records([p.read_bytes() for p in publish_records])
        err.print(f"published {len(ids)} {partner} records")
        return
    signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    signal.signal(signal.SIGINT, lambda *_: sim.stop())
    err.print(f"playing {partner} on vhost {pv.vhost} as {pv.user}, mode {sim_mode}")
    sim.run()
    err.print(json.dumps(sim.stats.as_dict()))


def topology_export(
    out: Annotated[Optional[Path], typer.Option(help="File (default: stdout).")] = None,  # noqa: UP045
    config: ConfigOption = None,
    replicas: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            min=1,
            help="Replicas of every quorum queue and stream (a cluster's node count; "
            "default: EXCHANGE_AMQP_REPLICAS, else the brokers EXCHANGE_AMQP_URL names).",
        ),
    ] = None,
) -> None:
    """The broker topology as a RabbitMQ definitions file (rabbitmqctl import_definitions)."""
    from exchange.amqp.settings import AmqpSettings, replicas_for
    from exchange.amqp.topology import build_topology, definitions
    from exchange.config import load_config

    count = replicas if replicas is not None else replicas_for(AmqpSettings().url)
    text = json.dumps(definitions(build_topology(load_config(config), replicas=count)), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


def bench_pipeline(
    records: Annotated[int, typer.Option("--records", "-n", help="How many records.")] = 20_000,
    partner: Annotated[str, typer.Option(help="Partner format to convert to.")] = "eu",
    amqp: AmqpOption = None,
    config: ConfigOption = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Competing consumers per run (worker i on the i-th broker of --amqp)."),
    ] = 1,
) -> None:
    """Full pipeline vs a bare relay on the same broker and client: records/s, ratio, latency."""
    from exchange.amqp.bench import bench_pipeline as run_bench
    from exchange.config import load_config

    try:
        result = run_bench(load_config(config), records, partner, _settings(amqp).url, workers)
    except ExchangeError as exc:
        raise _fail(str(exc)) from None
    p, r = result["pipelineLatencyMs"], result["relayLatencyMs"]
    typer.echo(
        f"pipeline {result['pipelinePerSecond']:,} records/s (p50 {p['p50']} ms, p99 {p['p99']} ms)\n"
        f"relay    {result['relayPerSecond']:,} records/s (p50 {r['p50']} ms, p99 {r['p99']} ms)\n"
        f"ratio    {result['ratio']:.2f}   workers {result['workers']} on {result['brokers']} broker(s)   "
        f"documents {result['documentBytes']} bytes   "
        f"peak memory {result['peakMemoryMiB']} MiB"
    )
    typer.echo(json.dumps(result))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """The service's commands on `app`, its benchmark on the `bench` group."""
    app.command()(run)
    app.command()(publish)
    app.command(name="simulate-partner")(simulate_partner)
    topology = typer.Typer(help="Broker topology.", no_args_is_help=True)
    topology.command("export")(topology_export)
    app.add_typer(topology, name="topology")
    bench.command("pipeline")(bench_pipeline)
