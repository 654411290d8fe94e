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

from exchange.errors import ExchangeError, RecordError
from exchange.service.settings import AmqpSettings
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


RUN_AUDIT_BUFFER = 50_000
"""Audit entries `exchange run` buffers before an append must write them (see run)."""


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
    from exchange.archive import DocumentArchive
    from exchange.audit import open_store, resolve_audit_url
    from exchange.config import load_config
    from exchange.logging import configure_logging
    from exchange.metrics import Metrics
    from exchange.service.broker import BrokerUnavailable, connect_blocking
    from exchange.service.service import Service, ServiceOptions
    from exchange.service.store import SoapStore
    from exchange.soap.endpoint import build_endpoint, contract_notice
    from exchange.state import StateStore

    configure_logging()
    settings = _settings(amqp)
    try:
        cfg = load_config(config)
        connect_blocking(settings.url).close()  # a clear error now beats a silent retry loop
        url = resolve_audit_url(audit)
        # The workers flush the trail themselves, on the commit thread, before every ack; a
        # buffer that filled up would flush on whichever thread appended (the I/O loop).
        store = open_store(url, batch_size=RUN_AUDIT_BUFFER)
        state = StateStore(url)
        soap_store = SoapStore(url)
        archive = DocumentArchive(url)
        metrics = Metrics()
        held = _partners_that_cannot_deliver(cfg, settings.url, partner or sorted(cfg.partners))
        issuing = _credential_issuer(cfg, partner, url)
        service = Service(
            cfg, store, state, settings, ServiceOptions(partners=partner or None, held=held),
            soap_store=soap_store, metrics=metrics, audit_url=url, archive=archive,
            signer=_signer_or_none(), credential_issuer=issuing,
        )  # fmt: skip
    except BrokerUnavailable as exc:
        raise _fail(str(exc)) from None
    except ExchangeError as exc:
        raise _fail(str(exc)) from None
    sealer = _sealer(store)
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
        err.print(
            f"serving http://{http}: /soap/v1, /ops, /metrics, /healthz, /readyz, /contexts/, "
            "/.well-known/did.json, /status/"
        )
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
        if sealer is not None:
            sealer.stop()
        store.close()
        state.close()
        soap_store.close()
        archive.close()
        if issuing is not None:
            issuing.store.close()


def _credential_issuer(cfg: Any, partners: list[str] | None, url: str) -> Any:
    """The issuing step for stream partners whose format issues credentials; says once
    when there is no key (their credentials then go out unsigned, as JSON-LD)."""
    from exchange.credentials.issuer import NO_KEY_NOTE, issuer_from_env
    from exchange.registry import partner_format

    names = partners or sorted(cfg.partners)
    formats = {p: partner_format(cfg.partners[p]) for p in names if p in cfg.partners}
    issuing = issuer_from_env(formats, url)
    if issuing is not None and issuing.key is None:
        err.print(
            "[yellow]warning:[/] "
            + NO_KEY_NOTE.replace("only .jsonld is written", "the feed carries JSON-LD")
        )
    return issuing


def _partners_that_cannot_deliver(cfg: Any, url: str, partners: list[str]) -> frozenset[str]:
    """One log line per partner the service cannot deliver to, with the reason; returns the
    partners whose transport lacks something on the broker, e.g. their own vhost (their
    connection is not opened: no retry loop)."""
    from exchange.health import Health, configuration_problem
    from exchange.logging import get_logger
    from exchange.registry import transport_for

    log = get_logger()
    held = set()
    for p in partners:
        agreement = cfg.partners[p]
        missing = transport_for(agreement).health(agreement, url)
        problem = configuration_problem(cfg, p) or missing
        if problem is None:
            continue
        log.warning("partner cannot deliver", partner=p, health=str(Health.NOT_CONFIGURED), reason=problem)
        if missing is not None:
            held.add(p)
    return frozenset(held)


def _sealer(store: Any) -> Any:
    """Seals of the audit chain head while the service runs (exchange/audit/sealing.py)."""
    from exchange.audit.sealing import PeriodicSealer, signer_from_env
    from exchange.errors import ConfigError

    try:
        signer = signer_from_env()
    except ConfigError as exc:
        err.print(f"[yellow]warning:[/] the audit chain is not sealed: {exc}")
        return None
    return None if signer is None else PeriodicSealer(store, signer).start()


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
    from exchange.contexts import served_contexts
    from exchange.http import build_front
    from exchange.soap.server import serve
    from exchange.soap.settings import DEFAULT_PATH, parse_address

    host, port = parse_address(http)
    console = _console(service, store)

    def partners() -> dict[str, dict[str, Any]]:
        rows = console.backend.overview()["partners"]
        return {r["partner"]: {"health": r["health"], "reason": r["reason"]} for r in rows}

    service.metrics.watch_health(lambda: {p: str(v["health"]) for p, v in partners().items()})
    if soap is not None:  # refusals before authentication are counted, not audited each
        service.metrics.registry.register(soap.app.refusals.counter)
    front = build_front(
        service.metrics,
        {"broker": service.ready.is_set, "audit": lambda: _answers(store.head),
         "schemas": lambda: bool(service.converter.routes)},
        soap.app if soap is not None else None,
        soap.settings.path if soap is not None else DEFAULT_PATH,
        console=console,
        partners=partners,
        contexts=served_contexts(),
        credentials=_credentials_app(service),
    )  # fmt: skip
    server = serve(front, host, port)
    if soap is not None:
        soap.app.listening_at(server.base_url)
    return server


def _credentials_app(service: Any) -> Any:
    """/.well-known/did.json and /status/... from the issuer's own store (None: no issuing)."""
    from exchange.credentials.web import CredentialsApp

    issuing = service.credential_issuer
    if issuing is None:
        return None
    return CredentialsApp(issuing.issuer, issuing.key, issuing.store)


def _console(service: Any, store: Any) -> Any:
    """The operations console on the service's own stores (users: EXCHANGE_CONSOLE_USERS)."""
    from exchange.audit import open_store
    from exchange.console.accounts import accounts_from_env
    from exchange.console.backend import ConsoleBackend
    from exchange.console.web import ConsoleApp
    from exchange.service.ops.status import collect_status
    from exchange.transports.soap_push.outbound import ReceiptStore

    url = service.audit_url
    backend = ConsoleBackend(
        config=service.config,
        audit=store,
        status=lambda: collect_status(
            service.config,
            service.settings.url,
            lambda: open_store(url, create=False),
            breakers=service.circuit_states(),
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
    files: Annotated[
        list[Path], typer.Argument(help="Domestic exports (.json, .jsonl, .csv), or folders of them.")
    ],
    partner: Annotated[
        list[str] | None, typer.Option("--partner", "-p", help="Only for these partners.")
    ] = None,
    amqp: AmqpOption = None,
    config: ConfigOption = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Folders: read their sub-folders too.")
    ] = False,
) -> None:
    """Publish domestic records to cn.domestic.in (one message a record), confirms pipelined."""
    from exchange.commands.inputs import DOMESTIC_SUFFIXES, InputError, expand
    from exchange.config import load_config
    from exchange.registry import source as load_source
    from exchange.service.broker import BrokerUnavailable
    from exchange.service.properties import id_part
    from exchange.service.publish import Outgoing, publish_many
    from exchange.service.topology import DOMESTIC_IN

    try:
        files = expand(files, DOMESTIC_SUFFIXES, recursive)
    except InputError as exc:
        raise _fail(str(exc)) from None
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
                    message_id=f"{id_part(path.stem)}-{digest}",
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
    partner: Annotated[str, typer.Argument(help="Any amqp or soap partner (kr, eu, nz...).")],
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
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="kr: seconds to wait for the broker, then exit 2.")
    ] = 10.0,
    amqp: AmqpOption = None,
    config: ConfigOption = None,
) -> None:
    """Play a partner as its agreement's transport says: over AMQP (its own vhost and user:
    acknowledge, reject, stay silent...; e.g. kr); a SOAP push partner (eu, no) serving its
    receiving service on --port (with switchable faults); a SOAP pull partner (nz, jp)
    pulling from --endpoint (faults switchable on its control page at --port)."""
    import signal

    from exchange.config import load_config
    from exchange.registry import partner_format, soap_partner
    from exchange.service.settings import with_user, with_vhost
    from exchange.transports.amqp.provision import PartnerVhost, provision
    from exchange.transports.amqp.simulator import Mode, PartnerSimulator

    cfg = load_config(config)
    agreement = cfg.partners.get(partner)
    if agreement is not None and soap_partner(agreement):
        from exchange.transports.sim_cli import simulate_partner_soap

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
    _wait_for_broker(settings.url, wait)
    pv = PartnerVhost.of(agreement)
    secret = password or f"{partner}-dev-password"
    if password is None:
        from urllib.parse import urlsplit

        try:
            provision(pv, secret, urlsplit(settings.url).username or "guest")
        except ExchangeError as exc:
            raise _fail(f"cannot provision {pv.vhost} for the simulator: {exc}") from None
    url = with_user(with_vhost(settings.url, pv.vhost), pv.user, secret)
    _wait_for_broker(url, 0)  # reachable: a refusal (vhost, user, password) is said at once
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


def provision_partners(
    partner: Annotated[
        list[str] | None, typer.Option("--partner", "-p", help="Only these partners (default: all).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be done, change nothing.")
    ] = False,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="EXCHANGE_PARTNER_PASSWORD",
            help="The partner user's password (default: a new user gets a random one, printed once; "
            "an existing user keeps its own).",
        ),
    ] = None,
    amqp: AmqpOption = None,
    config: ConfigOption = None,
) -> None:
    """Create what a partner needs on the broker: its vhost, its user with limited
    permissions, the service's permissions, its exchanges and queues. Idempotent. Admin
    rights: the RabbitMQ management API at EXCHANGE_AMQP_ADMIN_URL when set (e.g.
    http://admin:secret@broker:15672), otherwise rabbitmqctl on this host. Partners over
    other transports need nothing."""
    from exchange.config import load_config
    from exchange.errors import ExchangeError
    from exchange.transports.amqp.provision import PartnerVhost, admin_from_env, plan

    try:
        cfg = load_config(config)
    except ExchangeError as exc:
        raise _fail(str(exc)) from None
    unknown = [p for p in partner or [] if p not in cfg.partners]
    if unknown:
        raise _fail(f"unknown partner {', '.join(unknown)} (configured: {', '.join(sorted(cfg.partners))})")
    settings = _settings(amqp)
    try:
        admin = admin_from_env()
    except ExchangeError as exc:
        raise _fail(str(exc)) from None
    announced = False
    for p in partner or sorted(cfg.partners):
        agreement = cfg.partners[p]
        if agreement.transport != "amqp":
            typer.echo(f"{p}: nothing to provision on the broker (transport {agreement.transport})")
            continue
        if not announced:
            err.print(f"admin rights through {admin.where}")
            announced = True
        pv = PartnerVhost.of(agreement)
        try:
            steps, new_password = plan(pv, settings.url, password, admin)
            for step in steps:
                typer.echo(f"{p}: {'would ' if dry_run else ''}{step.describe}")
                if not dry_run:
                    step.apply()
        except ExchangeError as exc:
            raise _fail(f"{p}: {exc}") from None
        except Exception as exc:  # the broker refusing the declarations
            raise _fail(f"{p}: {type(exc).__name__}: {exc}") from None
        if new_password is not None and password is None and not dry_run:
            typer.echo(f"{p}: user {pv.user} has the password {new_password} (shown once: give it to {p})")
    if not dry_run:
        err.print("done; a running exchange run connects to newly provisioned partners by itself")


def _wait_for_broker(url: str, wait_s: float) -> None:
    """Connect within `wait_s` seconds or exit 2 saying why: a simulator must not retry
    silently forever. A refused login or a missing vhost is not waited for."""
    import time

    from exchange.service.broker import BrokerUnavailable, connect_blocking

    deadline = time.monotonic() + wait_s
    said = False
    while True:
        try:
            connect_blocking(url).close()
            return
        except BrokerUnavailable as exc:
            refused = "ACCESS_REFUSED" in str(exc) or "NOT_ALLOWED" in str(exc)
            left = deadline - time.monotonic()
            if refused or left <= 0:
                waited = "" if refused or wait_s == 0 else f" (waited {wait_s:g} s; --wait sets how long)"
                raise _fail(f"{exc}{waited}") from None
            if not said:
                err.print(f"waiting up to {wait_s:g} s for the broker ...")
                said = True
            time.sleep(min(1.0, left))


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
    from exchange.config import load_config
    from exchange.service.settings import AmqpSettings, replicas_for
    from exchange.service.topology import build_topology, definitions

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
    from exchange.config import load_config
    from exchange.service.bench import bench_pipeline as run_bench

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
    for name, cpu in result["cpuMicrosPerRecord"].items():
        typer.echo(f"CPU µs per record, {name:<8} " + ", ".join(f"{k} {v:,.0f}" for k, v in cpu.items()))
    typer.echo(json.dumps(result))


def bench_e2e(
    rate: Annotated[
        float | None, typer.Option(help="Records per second, steady (default: all at once).", min=0.1)
    ] = None,
    seconds: Annotated[float, typer.Option(help="With --rate: for how long.", min=0.1)] = 60.0,
    records: Annotated[
        int | None, typer.Option("--records", "-n", help="How many records (default: rate x seconds).", min=1)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Only the JSON result.")] = False,
    amqp: AmqpOption = None,
    config: ConfigOption = None,
    audit: Annotated[
        str | None,
        typer.Option(
            "--audit",
            metavar="URL",
            help="Audit store for the run (default: a new SQLite file); a PostgreSQL URL's schema"
            " (?schema=name) must be new: its size is the result.",
        ),
    ] = None,
) -> None:
    """`exchange run` with a simulator per AMQP partner on vhosts of its own: records/s
    acknowledged by every partner, p50/p99 per step from the audit trail, CPU per record."""
    from exchange.config import load_config
    from exchange.service.bench_e2e import bench_e2e as run_bench

    if rate is None and records is None:
        records = 20_000
    try:
        result = run_bench(
            load_config(config),
            _settings(amqp).url,
            rate=rate,
            seconds=seconds,
            records=records,
            audit_url=audit,
        )
    except ExchangeError as exc:
        raise _fail(str(exc)) from None
    if not as_json:
        typer.echo(
            f"{result['records']:,} records ({result['mode']}), acknowledged by "
            f"{', '.join(result['partners'])}: {result['recordsPerSecond']:,} records/s; "
            f"lost {sum(result['lost'].values())}, duplicated {result['duplicated']}"
        )
        for step, q in result["stepsMs"].items():
            typer.echo(f"  {step:<34} p50 {q['p50']:>9,.1f} ms   p99 {q['p99']:>9,.1f} ms")
        c = result["brokerConfirmMs"]
        typer.echo(
            f"  broker publish-confirm round trip  p50 {c['p50']:>9,.2f} ms   p99 {c['p99']:>9,.2f} ms"
        )
        cpu = ", ".join(f"{k} {v:,.0f}" for k, v in result["cpuMicrosPerRecord"].items())
        typer.echo(f"  CPU µs per record: {cpu}")
        typer.echo(
            f"  audit database {result['auditBytesPerRecord']:,} bytes per record; "
            f"load average {result['loadAverage']['before']} -> {result['loadAverage']['after']}"
        )
    typer.echo(json.dumps(result))
    lost = sum(result["lost"].values())
    if lost or result["duplicated"]:
        raise typer.Exit(1)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """The service's commands on `app`, its benchmark on the `bench` group."""
    app.command()(run)
    app.command()(publish)
    app.command(name="simulate-partner")(simulate_partner)
    app.command(name="provision")(provision_partners)
    topology = typer.Typer(help="Broker topology.", no_args_is_help=True)
    topology.command("export")(topology_export)
    app.add_typer(topology, name="topology")
    bench.command("pipeline")(bench_pipeline)
    bench.command("e2e")(bench_e2e)
