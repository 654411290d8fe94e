"""Starting the SOAP endpoint with everything it needs: used by `exchange serve-soap`
and by `exchange run`, which serves it beside the AMQP workers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from exchange.audit import AuditStore
from exchange.config import ExchangeConfig
from exchange.errors import ExchangeError
from exchange.signing import Signer
from exchange.soap.app import SoapApp
from exchange.soap.credentials import load_credentials
from exchange.soap.handoff import AmqpHandoff
from exchange.soap.server import RunningServer, TlsSettings, serve
from exchange.soap.settings import SoapSettings, parse_address
from exchange.soap.store import SoapStore


@dataclass
class Endpoint:
    server: RunningServer
    path: str
    partners_without_credentials: list[str]
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.server.base_url}{self.path}"

    def stop(self) -> None:
        self.server.stop()
        for close in self._closers:
            close()


def start_endpoint(
    config: ExchangeConfig,
    *,
    audit: AuditStore,
    store: SoapStore,
    amqp_url: str,
    http: str,
    tls: TlsSettings | None = None,
) -> Endpoint:
    """Serve /soap/v1 on HOST:PORT; ExchangeError (or OSError) when it cannot."""
    from exchange.soap import build_app

    host, port = parse_address(http)
    signer = Signer.from_env()
    credentials = load_credentials(config)
    settings = SoapSettings()
    handoff = AmqpHandoff(amqp_url, config)
    try:
        app: SoapApp = build_app(
            config, audit=audit, store=store, handoff=handoff, signer=signer, settings=settings,
            credentials=credentials,
        )  # fmt: skip
        server = serve(app, host, port, tls, threads=settings.threads)
    except (ExchangeError, OSError):
        handoff.close()
        raise
    soap = [a.partner for a in config.partners.values() if a.transport == "soap"]
    without = sorted(set(soap) - {c.partner for c in credentials.values()})
    return Endpoint(server, settings.path, without, [handoff.close])
