"""Building the SOAP endpoint with everything it needs, and serving it: used by
`exchange serve-soap` (alone) and by `exchange run` (behind the service's HTTP front)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import ValidationError

from exchange.audit import AuditStore
from exchange.config import ExchangeConfig
from exchange.errors import ConfigError, ExchangeError
from exchange.registry import soap_partner
from exchange.service.store import SoapStore
from exchange.signing import Signer
from exchange.soap.app import SoapApp
from exchange.soap.credentials import load_credentials
from exchange.soap.handoff import AmqpHandoff
from exchange.soap.server import RunningServer, TlsSettings, serve
from exchange.soap.settings import PUBLIC_URL_ENV, SoapSettings, parse_address


@dataclass
class SoapEndpoint:
    app: SoapApp
    settings: SoapSettings
    partners_without_credentials: list[str]
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        self.app.refusals.flush()  # the last minute's summary of refusals before authentication
        for close in self.closers:
            close()


def build_endpoint(
    config: ExchangeConfig, *, audit: AuditStore, store: SoapStore, amqp_url: str
) -> SoapEndpoint:
    """ExchangeError when it cannot be built (no signing key pair, bad credentials)."""
    from exchange.soap import build_app

    signer = Signer.from_env()
    credentials = load_credentials(config)
    try:
        settings = SoapSettings()
    except ValidationError as exc:  # e.g. EXCHANGE_PUBLIC_URL is not a URL
        raise ConfigError("; ".join(str(e["msg"]) for e in exc.errors())) from None
    handoff = AmqpHandoff(amqp_url, config)
    try:
        app = build_app(
            config, audit=audit, store=store, handoff=handoff, signer=signer, settings=settings,
            credentials=credentials,
        )  # fmt: skip
    except ExchangeError:
        handoff.close()
        raise
    soap = [a.partner for a in config.partners.values() if soap_partner(a)]
    without = sorted(set(soap) - {c.partner for c in credentials.values()})
    return SoapEndpoint(app, settings, without, [handoff.close])


@dataclass
class Endpoint:
    server: RunningServer
    soap: SoapEndpoint

    @property
    def url(self) -> str:
        return f"{self.server.base_url}{self.soap.settings.path}"

    @property
    def partners_without_credentials(self) -> list[str]:
        return self.soap.partners_without_credentials

    def stop(self) -> None:
        self.server.stop()
        self.soap.close()


def contract_notice(app: SoapApp) -> tuple[str, str | None]:
    """Where the WSDL is, and a warning when its addresses name a wildcard address nobody
    can call (listening on 0.0.0.0 or :: without EXCHANGE_PUBLIC_URL)."""
    wsdl = f"{app.public_url}{app.settings.path}?wsdl"
    host = urlsplit(app.public_url).hostname or ""
    if app.settings.public_url is None and host in ("0.0.0.0", "::"):
        return wsdl, f"the WSDL names {app.public_url}: set {PUBLIC_URL_ENV} to where partners reach us"
    return wsdl, None


def start_endpoint(
    config: ExchangeConfig,
    *,
    audit: AuditStore,
    store: SoapStore,
    amqp_url: str,
    http: str,
    tls: TlsSettings | None = None,
) -> Endpoint:
    """Serve /soap/v1 alone on HOST:PORT; ExchangeError (or OSError) when it cannot."""
    host, port = parse_address(http)
    soap = build_endpoint(config, audit=audit, store=store, amqp_url=amqp_url)
    try:
        server = serve(soap.app, host, port, tls, threads=soap.settings.threads)
    except OSError:
        soap.close()
        raise
    soap.app.listening_at(server.base_url)
    return Endpoint(server, soap)
