"""The stream transport: the partner reads the feed stream at its own pace."""

from __future__ import annotations

from typing import Any

from exchange.config import Agreement
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.topology import FEED_STREAM, work_queue
from exchange.service.transport import BaseTransport, Link
from exchange.transports.stream.delivery import FeedDelivery


class StreamTransport(BaseTransport):
    def describe(self, agreement: Agreement) -> str:
        return f"RabbitMQ stream {FEED_STREAM}"

    def attach(self, link: Link, agreement: Agreement) -> None:
        if not link.deliveries:
            return

        def feed(ch: Any) -> None:
            kw = link.worker_kwargs(
                f"deliver-{agreement.partner}", work_queue(agreement.partner), ch, ConfirmingPublisher(ch)
            )
            link.start(FeedDelivery(agreement=agreement, **kw))

        link.open_channel(link.main, feed)


TRANSPORT = StreamTransport
"""The plug-in, made once per running service (exchange.registry.transport)."""
