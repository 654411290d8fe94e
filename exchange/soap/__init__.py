"""The SOAP endpoint for partners that exchange over SOAP (eu, nz): contract-first
(schemas/soap/exchange-1.0.wsdl), a thin lxml layer behind
the asyncio HTTP front (exchange/soap/server.py).

    app = build_app(config, audit=audit, store=SoapStore(url), handoff=AmqpHandoff(amqp, config),
                    signer=Signer.from_env())
    with serve(app, "127.0.0.1", 8080) as server:
        ...

The intake/convert pipeline feeds VerifyCertificate with `store.record_certificate(record)`
and pull partners' documents with `store.enqueue_for_pull(partner, message_id, kind,
record_id, document)`.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange.audit import AuditStore
from exchange.config import ExchangeConfig
from exchange.registry import partner_format, soap_partner
from exchange.service.store import PullState, SoapStore
from exchange.signing import Signer
from exchange.soap.app import SoapApp
from exchange.soap.context import Services
from exchange.soap.credentials import PartnerCredential, load_credentials
from exchange.soap.faults import FaultCode
from exchange.soap.handoff import AmqpHandoff, DomesticRecord, Handoff, HandoffError, MemoryHandoff
from exchange.soap.server import RunningServer, TlsSettings, serve
from exchange.soap.settings import SoapSettings
from exchange.soap.wss_signature import WssSigner
from exchange.soap.wsse import Authenticator


def build_app(
    config: ExchangeConfig,
    *,
    audit: AuditStore,
    store: SoapStore,
    handoff: Handoff,
    signer: Signer,
    settings: SoapSettings | None = None,
    credentials: Mapping[str, PartnerCredential] | None = None,
) -> SoapApp:
    """The WSGI app for the agreements whose transport is "soap".

    Credentials default to the agreements' options (see exchange/soap/credentials.py);
    formats and schemas load here, once, so a bad configuration fails at start.
    """
    settings = settings or SoapSettings()
    creds = load_credentials(config) if credentials is None else dict(credentials)
    formats = {p: partner_format(a) for p, a in config.partners.items() if soap_partner(a)}
    services = Services(
        config=config,
        audit=audit,
        store=store,
        handoff=handoff,
        signer=signer,
        formats=formats,
        document_limits=settings.document_limits(),
    )
    authenticator = Authenticator(
        {u: c for u, c in creds.items() if c.partner in formats}, store, max_skew_s=settings.max_skew_s
    )
    return SoapApp(services, authenticator, settings, wss_signer=WssSigner.from_signer(signer))


__all__ = [
    "AmqpHandoff",
    "DomesticRecord",
    "FaultCode",
    "Handoff",
    "HandoffError",
    "MemoryHandoff",
    "PartnerCredential",
    "PullState",
    "RunningServer",
    "SoapApp",
    "SoapSettings",
    "SoapStore",
    "TlsSettings",
    "build_app",
    "serve",
]
