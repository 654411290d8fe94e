"""The amqp transport: a partner on its own vhost of our broker. We publish to its exchange
and take its receipts from its reply queue; with inbound on, we also take the records it
publishes for us."""

from __future__ import annotations

from typing import Any

import pika.exceptions

from exchange.config import Agreement
from exchange.registry import partner_format
from exchange.service.broker import connect_blocking, refused
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.settings import with_vhost
from exchange.service.topology import work_queue
from exchange.service.transport import BaseTransport, Host, Link
from exchange.transports.amqp.delivery import AmqpPartnerDelivery, ReceiptConsumer
from exchange.transports.amqp.inbound import PartnerRecordsConsumer
from exchange.transports.amqp.provision import PartnerVhost, vhost_exists


class AmqpTransport(BaseTransport):
    def health(self, agreement: Agreement, broker_url: str) -> str | None:
        vhost = PartnerVhost.of(agreement).vhost
        if vhost_exists(broker_url, vhost):
            return None
        return f"vhost {vhost} not found on the broker: run exchange provision --partner {agreement.partner}"

    def describe(self, agreement: Agreement) -> str:
        pv = PartnerVhost.of(agreement)
        return f"AMQP vhost {pv.vhost}: exchange {pv.inbound_exchange}, receipts on {pv.reply_queue}"

    def prepare(self, host: Host, agreement: Agreement) -> None:
        pv = PartnerVhost.of(agreement)
        conn = connect_blocking(with_vhost(host.settings.url, pv.vhost))
        try:
            pv.declare(conn.channel())
        except pika.exceptions.ChannelClosedByBroker as exc:
            raise refused(exc) from None
        finally:
            if conn.is_open:
                conn.close()

    def attach(self, link: Link, agreement: Agreement) -> None:
        pv = PartnerVhost.of(agreement)
        main = link.main

        def partner_open(pconn: Any) -> None:
            if link.deliveries:
                link.open_channel(pconn, lambda pch: self._send(link, pconn, pch, agreement, pv))
            if link.inbound:
                link.open_channel(
                    main,
                    lambda dch: link.open_channel(
                        pconn, lambda rch: self._records(link, dch, rch, agreement, pv)
                    ),
                )

        link.connect(with_vhost(link.host.settings.url, pv.vhost), partner_open, f"partner {pv.partner}")

    def _send(self, link: Link, pconn: Any, pch: Any, agreement: Agreement, pv: PartnerVhost) -> None:
        partner_pub = ConfirmingPublisher(pch)

        def work(ch: Any) -> None:
            pub = ConfirmingPublisher(ch)
            kw = link.worker_kwargs(f"deliver-{pv.partner}", work_queue(pv.partner), ch, pub)
            delivery = AmqpPartnerDelivery(
                agreement=agreement,
                partner_publisher=partner_pub,
                receipt_timeout_s=link.host.settings.receipt_timeout_s,
                **kw,
            )
            link.start(delivery)

            def receipts(rch: Any) -> None:
                rkw = link.worker_kwargs(
                    f"receipts-{pv.partner}", pv.reply_queue, rch, ConfirmingPublisher(rch)
                )
                link.start(ReceiptConsumer(delivery=delivery, archive=link.host.archive, **rkw))

            link.open_channel(pconn, receipts)

        link.open_channel(link.main, work)

    def _records(self, link: Link, dch: Any, rch: Any, agreement: Agreement, pv: PartnerVhost) -> None:
        domestic_pub = ConfirmingPublisher(dch)
        kw = link.worker_kwargs(f"records-{pv.partner}", pv.records_queue, rch, ConfirmingPublisher(rch))
        link.start(
            PartnerRecordsConsumer(
                partner=pv.partner, format=partner_format(agreement), domestic_publisher=domestic_pub, **kw
            )
        )


TRANSPORT = AmqpTransport
"""The plug-in, made once per running service (exchange.registry.transport)."""
