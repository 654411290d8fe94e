"""What a transport is to the service: the plug-in an agreement chooses by its `transport`
value (exchange.registry.transport_for), so the service core never names one.

The service owns the broker connection, the partner's work queue and the delivery state;
a transport only starts the workers that carry that queue to the partner and take the
partner's receipts back, on the session the service lends it (a `Link`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from exchange.archive import DocumentArchive
from exchange.audit import AuditStore
from exchange.config import Agreement, ExchangeConfig
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.consumer import BatchConsumer
from exchange.service.settings import AmqpSettings
from exchange.service.store import SoapStore
from exchange.signing import Signer
from exchange.state import StateStore


class Host(Protocol):
    """The running service as a transport sees it: configuration and stores, read only."""

    config: ExchangeConfig
    settings: AmqpSettings
    audit: AuditStore
    state: StateStore
    archive: DocumentArchive | None
    signer: Signer | None
    soap_store: SoapStore | None
    audit_url: str | None


@dataclass(frozen=True, slots=True)
class Link:
    """One connected session of the service, lent to the transports while it lasts."""

    host: Host
    main: Any
    """The connection to the exchange's own vhost (pika SelectConnection)."""
    deliveries: bool
    """Start the workers that send the partner's work queue (and take its receipts)."""
    inbound: bool
    """Start the workers that take what the partner sends us unprompted (records)."""
    open_channel: Callable[[Any, Callable[[Any], None]], None]
    """open_channel(connection, then): a channel watched by the session, handed to `then`."""
    worker_kwargs: Callable[[str, str, Any, ConfirmingPublisher], dict[str, Any]]
    """worker_kwargs(name, queue, channel, publisher): what every BatchConsumer takes."""
    start: Callable[[BatchConsumer], None]
    """Starts a worker and keeps it in the session (stopped and drained with it)."""
    connect: Callable[[str, Callable[[Any], None], str], Any]
    """connect(url, on_open, what): another connection on the session's I/O loop, whose loss
    (named by `what`) ends the session like the main connection's."""


@runtime_checkable
class Transport(Protocol):
    """One way of carrying a partner's documents. One instance serves every agreement that
    names it; per-partner state (clients, circuit breakers) is keyed by partner."""

    soap_endpoint: bool
    """The partner has an account on our SOAP endpoint (submits, verifies, pulls)."""
    pulled: bool
    """The partner fetches its documents from our outbox rather than us sending them."""

    def health(self, agreement: Agreement, broker_url: str) -> str | None:
        """What the partner's side of this transport lacks for delivery (None: ready); a
        partner held for it is looked for again while the service runs."""
        ...

    def prepare(self, host: Host, agreement: Agreement) -> None:
        """Before each session: declare what lives outside the exchange's vhost, build
        clients kept across sessions (a failure is logged and the partner not started)."""
        ...

    def attach(self, link: Link, agreement: Agreement) -> None:
        """Session open: send (deliver the partner's work queue) and take its receipts, as
        link.deliveries and link.inbound ask."""
        ...

    def circuits(self) -> Mapping[str, str]:
        """The circuit breaker state per partner, for transports that have one."""
        ...

    def describe(self, agreement: Agreement) -> str:
        """Where the partner's documents go, in a line for operators (the agreements page)."""
        ...

    def stop(self) -> None:
        """The service is stopping for good: release clients."""
        ...


class BaseTransport:
    """Defaults for the hooks most transports do not need."""

    soap_endpoint = False
    pulled = False

    def health(self, agreement: Agreement, broker_url: str) -> str | None:
        return None

    def prepare(self, host: Host, agreement: Agreement) -> None:
        return None

    def attach(self, link: Link, agreement: Agreement) -> None:
        return None

    def circuits(self) -> Mapping[str, str]:
        return {}

    def describe(self, agreement: Agreement) -> str:
        return type(self).__name__

    def stop(self) -> None:
        return None
