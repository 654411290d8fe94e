"""The soap-push transport: we call the partner's receiving service (zeep client, WS-Security,
signed receipts). The client is kept across reconnects, so its circuit breaker remembers the
partner's health."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import structlog

from exchange.config import Agreement
from exchange.errors import ExchangeError
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.topology import work_queue
from exchange.service.transport import BaseTransport, Host, Link

log = structlog.get_logger("exchange.amqp.service")


class SoapPushTransport(BaseTransport):
    soap_endpoint = True

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def describe(self, agreement: Agreement) -> str:
        from exchange.transports.soap_push.receive_contract import default_wsdl

        url = agreement.options.get("soap_outbound_url")
        named = agreement.options.get("soap_wsdl")
        contract = (
            str(named).replace("\\", "/").rsplit("/", 1)[-1]
            if named
            else default_wsdl(agreement.partner).name
        )
        return (
            f"SOAP push to {url} ({contract})"
            if url
            else f"SOAP push ({contract}; no soap_outbound_url configured)"
        )

    def prepare(self, host: Host, agreement: Agreement) -> None:
        from exchange.transports.soap_push.outbound import build_client

        partner = agreement.partner
        if "soap_outbound_url" not in agreement.options or partner in self._clients:
            return
        try:
            folder = host.config.path.parent if host.config.path else None
            client = build_client(agreement, folder=folder, audit_url=host.audit_url)
        except ExchangeError as exc:
            log.warning("SOAP delivery not started", partner=partner, reason=str(exc))
            return
        with self._lock:
            self._clients[partner] = client

    def attach(self, link: Link, agreement: Agreement) -> None:
        from exchange.transports.soap_push.delivery import SoapPartnerDelivery

        partner = agreement.partner
        client = self._clients.get(partner)
        if client is None or not link.deliveries:
            return

        def push(ch: Any) -> None:
            kw = link.worker_kwargs(f"deliver-{partner}", work_queue(partner), ch, ConfirmingPublisher(ch))
            link.start(SoapPartnerDelivery(client=client, agreement=agreement, **kw))

        link.open_channel(link.main, push)

    def circuits(self) -> Mapping[str, str]:
        with self._lock:
            return {p: str(client.breaker.state) for p, client in self._clients.items()}

    def stop(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


TRANSPORT = SoapPushTransport
"""The plug-in, made once per running service (exchange.registry.transport)."""
