"""The stream transport: the partner reads the feed stream at its own pace."""

from __future__ import annotations

from typing import Any

from exchange.config import Agreement
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.topology import FEED_STREAM, work_queue
from exchange.service.transport import BaseTransport, Host, Link
from exchange.transports.stream.delivery import FeedDelivery
from exchange.transports.stream.feed_stream import DedupFeedDelivery, FeedLedger
from exchange.transports.stream.stream_append import StreamAppender


class StreamTransport(BaseTransport):
    def __init__(self) -> None:
        self.appender: StreamAppender | None = None
        """bri.feed through the stream protocol (EXCHANGE_AMQP_STREAM_URL): one per process,
        across sessions, so its unconfirmed appends are re-sent under the same publisher."""
        self.ledger: FeedLedger | None = None

    def describe(self, agreement: Agreement) -> str:
        return f"RabbitMQ stream {FEED_STREAM}"

    def prepare(self, host: Host, agreement: Agreement) -> None:
        if host.settings.stream_url and self.appender is None:
            self.appender = StreamAppender(host.settings.stream_url, FEED_STREAM)
            self.ledger = FeedLedger(host.audit, host.state)
        if self.appender is not None and not self.appender.started:
            self.appender.start()

    def attach(self, link: Link, agreement: Agreement) -> None:
        if not link.deliveries:
            return

        def feed(ch: Any) -> None:
            kw = link.worker_kwargs(
                f"deliver-{agreement.partner}", work_queue(agreement.partner), ch, ConfirmingPublisher(ch)
            )
            worker: FeedDelivery
            if self.appender is not None and self.ledger is not None:
                worker = DedupFeedDelivery(
                    agreement=agreement, appender=self.appender, ledger=self.ledger, **kw
                )
            else:
                worker = FeedDelivery(agreement=agreement, url=link.host.url, **kw)
            link.start(worker)

        link.open_channel(link.main, feed)

    def stop(self) -> None:
        if self.appender is not None:
            self.appender.close()


TRANSPORT = StreamTransport
"""The plug-in, made once per running service (exchange.registry.transport)."""
