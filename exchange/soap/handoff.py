"""Handing partners' records to domestic systems: the same canonical JSON on the same
exchange (cn.domestic.out, routing key <partner>.<kind>) as records arriving over AMQP.

SubmitDocument answers only after the broker confirmed the message, so a signed receipt
means the record is durably with domestic systems. The handoff is injectable: the AMQP
one for the service, `MemoryHandoff` for unit tests.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import pika
import pika.exceptions

from exchange.config import ExchangeConfig
from exchange.errors import ExchangeError
from exchange.intake import CanonicalRecord
from exchange.service.topology import DOMESTIC_OUT, DOMESTIC_OUT_ARCHIVE, Topology, build_topology, declare


class HandoffError(ExchangeError):
    """Domestic systems could not take the record now; the partner may retry."""


@dataclass(frozen=True, slots=True)
class DomesticRecord:
    partner: str
    message_id: str
    """Ours (the receipt's)."""
    partner_message_id: str
    record: CanonicalRecord

    @property
    def routing_key(self) -> str:
        return f"{self.partner}.{self.record.kind}"

    def payload(self) -> bytes:
        data = self.record.model_dump(mode="json", by_alias=True, exclude_none=True)
        return json.dumps(data, ensure_ascii=False).encode("utf-8")


class Handoff(Protocol):
    def __call__(self, item: DomesticRecord) -> None:
        """Durably handed over on return; HandoffError otherwise."""


@dataclass
class MemoryHandoff:
    """Test double: keeps what it was given; `fail_with` makes the next calls fail."""

    items: list[DomesticRecord] = field(default_factory=list)
    fail_with: str | None = None

    def __call__(self, item: DomesticRecord) -> None:
        if self.fail_with is not None:
            raise HandoffError(self.fail_with)
        self.items.append(item)


class AmqpHandoff:
    """Publishes with publisher confirms and `mandatory` on one blocking connection.

    pika's BlockingConnection is not thread-safe: publishes from the server's threads
    take turns under a lock (one confirm round trip each). A lost connection is reopened
    once per publish before the failure reaches the partner.
    """

    def __init__(self, url: str, config: ExchangeConfig):
        self.url = url
        self._topology = _domestic_out(config)
        self._lock = threading.Lock()
        self._conn: Any = None
        self._channel: Any = None

    def _open(self) -> Any:
        if self._channel is None or not self._channel.is_open:
            self._close()
            self._conn = pika.BlockingConnection(pika.URLParameters(self.url))
            self._channel = self._conn.channel()
            self._channel.confirm_delivery()
            declare(self._channel, self._topology)
        return self._channel

    def __call__(self, item: DomesticRecord) -> None:
        props = pika.BasicProperties(
            delivery_mode=2,
            message_id=f"{item.partner}:{item.partner_message_id}",
            type=item.record.kind.value,
            content_type="application/json",
            headers={
                "partner": item.partner,
                "record-id": item.record.record_id,
                "mra-message-id": item.message_id,
            },
        )
        body = item.payload()
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._open().basic_publish(DOMESTIC_OUT, item.routing_key, body, props, mandatory=True)
                    return
                except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
                    raise HandoffError(f"the broker refused the record: {type(exc).__name__}") from None
                except pika.exceptions.AMQPError as exc:
                    self._close()
                    if attempt == 2:
                        raise HandoffError(f"the broker is unavailable: {type(exc).__name__} {exc}") from None

    def _close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None and conn.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._close()


def _domestic_out(config: ExchangeConfig) -> Topology:
    """The part of the service's topology the handoff needs: same names, same arguments."""
    full = build_topology(config, partners=[])
    return Topology(
        tuple(e for e in full.exchanges if e.name == DOMESTIC_OUT),
        tuple(q for q in full.queues if q.name == DOMESTIC_OUT_ARCHIVE),
        tuple(b for b in full.bindings if b.exchange == DOMESTIC_OUT),
    )
