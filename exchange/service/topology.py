"""Broker topology as data: declared idempotently at start, exportable as a RabbitMQ
definitions file for operations. Names live here and nowhere else.

    cn.domestic.in (topic, key = kind) --> mra.intake (quorum)
    mra.outbound (direct, key = partner) --> mra.<p>.work (quorum, delivery limit)
    mra.retry (direct, key = <p>.<step>) --> mra.<p>.retry.<step> (TTL) --> back to mra.<p>.work
    mra.dlx (direct) --> mra.<p>.dead, mra.intake.dead, mra.rejects
    cn.domestic.out (topic, key = <partner>.<kind>) --> cn.domestic.out.archive
    bri.feed (stream, published through the default exchange)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from exchange.config import ExchangeConfig
from exchange.model import Kind

DOMESTIC_IN = "cn.domestic.in"
DOMESTIC_OUT = "cn.domestic.out"
DOMESTIC_OUT_ARCHIVE = "cn.domestic.out.archive"
INTAKE_QUEUE = "mra.intake"
OUTBOUND = "mra.outbound"
RETRY = "mra.retry"
DLX = "mra.dlx"
REJECTS = "mra.rejects"
INTAKE_DEAD = "mra.intake.dead"
FEED_STREAM = "bri.feed"
DELIVERY_LIMIT = 5


def work_queue(partner: str) -> str:
    return f"mra.{partner}.work"


def dead_queue(partner: str) -> str:
    return f"mra.{partner}.dead"


def retry_queue(partner: str, step: int) -> str:
    return f"mra.{partner}.retry.{step}"


def retry_key(partner: str, step: int) -> str:
    return f"{partner}.{step}"


@dataclass(frozen=True, slots=True)
class Exchange:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Binding:
    exchange: str
    queue: str
    routing_key: str


@dataclass(frozen=True, slots=True)
class Topology:
    exchanges: tuple[Exchange, ...]
    queues: tuple[Queue, ...]
    bindings: tuple[Binding, ...]


def _quorum(dead_letter_key: str) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DLX,
        "x-dead-letter-routing-key": dead_letter_key,
    }


def build_topology(config: ExchangeConfig, partners: Iterable[str] | None = None) -> Topology:
    names = sorted(partners if partners is not None else config.partners)
    exchanges = [
        Exchange(DOMESTIC_IN, "topic"),
        Exchange(DOMESTIC_OUT, "topic"),
        Exchange(OUTBOUND, "direct"),
        Exchange(RETRY, "direct"),
        Exchange(DLX, "direct"),
    ]
    queues = [
        Queue(INTAKE_QUEUE, _quorum("intake")),
        Queue(INTAKE_DEAD, {"x-queue-type": "quorum"}),
        Queue(REJECTS, {"x-queue-type": "quorum"}),
        Queue(DOMESTIC_OUT_ARCHIVE, {"x-queue-type": "quorum"}),
        Queue(FEED_STREAM, {"x-queue-type": "stream", "x-max-age": "365D"}),
    ]
    bindings = [Binding(DOMESTIC_IN, INTAKE_QUEUE, kind.value) for kind in Kind]
    bindings += [
        Binding(DLX, INTAKE_DEAD, "intake"),
        Binding(DLX, REJECTS, "rejects"),
        Binding(DOMESTIC_OUT, DOMESTIC_OUT_ARCHIVE, "#"),
    ]
    for partner in names:
        agreement = config.partners[partner]
        queues.append(Queue(work_queue(partner), _quorum(partner)))
        queues.append(Queue(dead_queue(partner), {"x-queue-type": "quorum"}))
        bindings.append(Binding(OUTBOUND, work_queue(partner), partner))
        bindings.append(Binding(DLX, dead_queue(partner), partner))
        for step, seconds in enumerate(agreement.retry_seconds):
            queues.append(
                Queue(
                    retry_queue(partner, step),
                    {
                        "x-message-ttl": int(seconds * 1000),
                        "x-dead-letter-exchange": OUTBOUND,
                        "x-dead-letter-routing-key": partner,
                    },
                )
            )
            bindings.append(Binding(RETRY, retry_queue(partner, step), retry_key(partner, step)))
    return Topology(tuple(exchanges), tuple(queues), tuple(bindings))


def declare(channel: Any, topology: Topology) -> None:
    """Declare everything on a blocking channel; idempotent (same arguments every time)."""
    for ex in topology.exchanges:
        channel.exchange_declare(ex.name, exchange_type=ex.type, durable=True)
    for q in topology.queues:
        channel.queue_declare(q.name, durable=True, arguments=q.arguments)
    for b in topology.bindings:
        channel.queue_bind(b.queue, b.exchange, routing_key=b.routing_key)


def definitions(topology: Topology, vhost: str = "/") -> dict[str, Any]:
    """The topology as a RabbitMQ definitions document (rabbitmqctl import_definitions)."""
    return {
        "exchanges": [
            {
                "name": e.name,
                "vhost": vhost,
                "type": e.type,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for e in topology.exchanges
        ],
        "queues": [
            {"name": q.name, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": q.arguments}
            for q in topology.queues
        ],
        "bindings": [
            {
                "source": b.exchange,
                "vhost": vhost,
                "destination": b.queue,
                "destination_type": "queue",
                "routing_key": b.routing_key,
                "arguments": {},
            }
            for b in topology.bindings
        ],
    }
