"""`exchange simulate-partner kr`: the Korean side, for demos and tests.

It logs in to its own vhost as its own user (limited permissions), consumes our
documents, validates each against the kr schema and answers on the reply exchange:
ACK, or (switchably) REJECT with a reason, silence, or two ACKs. Like an AS4 receiver
it counts a message id it had already acknowledged, sent again, as a duplicate
(a broker redelivery to the simulator itself is not one). It can also
publish KC certificates to us.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pika
from pika.exceptions import AMQPError

from exchange.errors import DocumentError
from exchange.partner import PartnerFormat
from exchange.service.settings import broker_urls
from exchange.transports.amqp.provision import PartnerVhost


class Mode(StrEnum):
    ACK = "ack"
    WARN = "warn"
    REJECT = "reject"
    SILENT = "silent"
    TWICE = "twice"


@dataclass
class Stats:
    received: Counter[str] = field(default_factory=Counter)
    acknowledged: set[str] = field(default_factory=set)
    duplicates: int = 0
    redelivered: int = 0
    invalid: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliveries": sum(self.received.values()),
            "distinct": len(self.received),
            "acknowledged": len(self.acknowledged),
            "duplicates": self.duplicates,
            "redelivered": self.redelivered,
            "invalid": self.invalid,
        }


class PartnerSimulator:
    def __init__(
        self,
        url: str,
        vhost: PartnerVhost,
        fmt: PartnerFormat,
        mode: Mode = Mode.ACK,
        stats_file: Path | None = None,
        reject_reason: str = "simulated rejection",
        confirm_receipts: bool = False,
    ):
        self.url = url
        self.vhost = vhost
        self.format = fmt
        self.mode = mode
        self.stats = Stats()
        self.stats_file = stats_file
        self.reject_reason = reject_reason
        self.confirm_receipts = confirm_receipts
        """Each receipt confirmed by the broker before the document is acked (slower): a node
        lost in between redelivers the document and the receipt is sent again, never lost."""
        self._sends: set[str] = set()
        self._stop = threading.Event()
        self._conn: pika.BlockingConnection | None = None
        self._dirty = False
        self._written = 0.0
        self._unacked = 0
        """The last delivery handled and not acked yet: one ack (multiple) per round of the loop."""

    def _reply(self, ch: Any, correlation_id: str, status: str, reason: str | None = None) -> None:
        body = json.dumps(
            {
                "status": status,
                "reason": reason,
                "warnings": [] if status != "WARN" else ["simulated warning"],
            }
        )
        # The channel's own (non-blocking) publish: the reply joins what the loop sends next,
        # rather than a poll and a send() of its own (BlockingChannel flushes every call).
        ch._impl.basic_publish(
            self.vhost.reply_exchange,
            self.vhost.partner,
            body.encode(),
            pika.BasicProperties(
                correlation_id=correlation_id, content_type="application/json", delivery_mode=2
            ),
        )

    def _on_message(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        mid = props.message_id or props.correlation_id or ""
        send = str((props.headers or {}).get("x-mra-send", ""))
        if method.redelivered or (send and send in self._sends):
            # The broker giving back a message we took but had not acked when our own
            # connection dropped: the same publish again, not a second send by the service.
            self.stats.redelivered += 1
        elif mid in self.stats.acknowledged:
            self.stats.duplicates += 1
        if send:
            self._sends.add(send)
        self.stats.received[mid] += 1
        try:
            self.format.check_bytes(body)
            valid, reason = True, None
        except DocumentError as exc:
            valid, reason = False, f"schema invalid: {exc}"
            self.stats.invalid += 1
        if not valid:
            self._reply(ch, mid, "REJECT", reason)
        elif self.mode is Mode.REJECT:
            self._reply(ch, mid, "REJECT", self.reject_reason)
        elif self.mode is Mode.SILENT:
            pass
        else:
            status = "WARN" if self.mode is Mode.WARN else "ACK"
            self._reply(ch, mid, status)
            if self.mode is Mode.TWICE:
                self._reply(ch, mid, status)
            self.stats.acknowledged.add(mid)
        self._unacked = method.delivery_tag  # acked with the others of this round, see run()
        self._dirty = True  # written by the loop, at most every 0.2 s: not a file per message

    def _write_stats(self) -> None:
        self._dirty = False
        self._written = time.monotonic()
        if self.stats_file is not None:
            tmp = self.stats_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.stats.as_dict()))
            tmp.replace(self.stats_file)

    def run(self) -> None:
        """Consume until stop(); reconnects if the broker drops the connection."""
        while not self._stop.is_set():
            try:
                self._conn = pika.BlockingConnection([pika.URLParameters(u) for u in broker_urls(self.url)])
                ch = self._conn.channel()
                if self.confirm_receipts:
                    ch.confirm_delivery()
                impl: Any = getattr(ch, "_impl")  # noqa: B009  (pika's channel under the blocking one)
                ch.basic_qos(prefetch_count=200)
                ch.basic_consume(self.vhost.inbound_queue, self._on_message)
                self._unacked = 0
                self._write_stats()
                while not self._stop.is_set():
                    self._conn.process_data_events(time_limit=0.2)  # type: ignore[arg-type]  # a float works
                    if self._unacked:  # after the replies of every delivery it covers
                        impl.basic_ack(self._unacked, multiple=True)
                        self._unacked = 0
                    if self._dirty and time.monotonic() - self._written >= 0.2:
                        self._write_stats()
                if self._dirty:
                    self._write_stats()
                self._conn.close()
            except AMQPError:
                self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()

    def publish_records(self, documents: list[bytes]) -> list[str]:
        """Publish our own (KC) records to the service; returns their message ids."""
        conn = pika.BlockingConnection([pika.URLParameters(u) for u in broker_urls(self.url)])
        try:
            ch = conn.channel()
            ch.confirm_delivery()
            ids = []
            for doc in documents:
                mid = str(uuid.uuid4())
                ch.basic_publish(
                    self.vhost.records_exchange,
                    self.vhost.partner,
                    doc,
                    pika.BasicProperties(message_id=mid, content_type="application/xml", delivery_mode=2),
                    mandatory=True,
                )
                ids.append(mid)
            return ids
        finally:
            conn.close()
