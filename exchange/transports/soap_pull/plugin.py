"""The soap-pull transport: the partner fetches its documents from our outbox over our SOAP
endpoint (ListPending, PullDocument, AcknowledgeDocument); we fill the outbox."""

from __future__ import annotations

from typing import Any

from exchange.config import Agreement
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.topology import work_queue
from exchange.service.transport import BaseTransport, Link


class SoapPullTransport(BaseTransport):
    soap_endpoint = True
    pulled = True

    def describe(self, agreement: Agreement) -> str:
        return "SOAP pull from our /soap/v1 (ListPending, PullDocument, AcknowledgeDocument)"

    def attach(self, link: Link, agreement: Agreement) -> None:
        outbox = link.host.soap_store
        if outbox is None or not link.deliveries:
            return

        def pull(ch: Any) -> None:
            from exchange.transports.soap_pull.delivery import PullOutboxDelivery

            kw = link.worker_kwargs(
                f"outbox-{agreement.partner}", work_queue(agreement.partner), ch, ConfirmingPublisher(ch)
            )
            link.start(PullOutboxDelivery(agreement=agreement, outbox=outbox, signer=link.host.signer, **kw))

        link.open_channel(link.main, pull)


TRANSPORT = SoapPullTransport
"""The plug-in, made once per running service (exchange.registry.transport)."""
