"""Queue depths and consumers by passive declare: no management plugin needed, nothing created."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pika
import pika.exceptions

from exchange.errors import ExchangeError
from exchange.service.broker import BrokerUnavailable, connect_blocking, redact


class OpsError(ExchangeError):
    """An operation could not be carried out (missing queue, refused consume...)."""


@dataclass(frozen=True, slots=True)
class QueueStatus:
    name: str
    type: str
    depth: int | None
    """Messages ready; None when the queue does not exist or is a stream (no such count)."""
    consumers: int | None
    exists: bool = True


def queue_status(url: str, queues: Iterable[tuple[str, str]]) -> dict[str, QueueStatus]:
    """(name, type) -> depth and consumers by passive declare: works without the management
    plugin, and never creates a queue. A missing queue is reported, not an error."""
    conn = connect_blocking(url)
    out: dict[str, QueueStatus] = {}
    try:
        channel = conn.channel()
        for name, qtype in queues:
            try:
                ok = channel.queue_declare(name, passive=True).method
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise OpsError(f"cannot inspect queue {name}: {exc.reply_text}") from None
                out[name] = QueueStatus(name, qtype, None, None, exists=False)
                channel = conn.channel()  # a failed passive declare closes the channel
                continue
            # A stream keeps what it delivered: its "ready" count means nothing.
            depth = None if qtype == "stream" else int(ok.message_count or 0)
            out[name] = QueueStatus(name, qtype, depth, int(ok.consumer_count or 0))
    except pika.exceptions.AMQPConnectionError as exc:
        raise BrokerUnavailable(f"lost the broker at {redact(url)}: {type(exc).__name__} {exc}") from None
    finally:
        if conn.is_open:
            conn.close()
    return out
