"""The broker as every part of the service meets it: connecting, and what its refusals mean."""

from __future__ import annotations

import pika
import pika.exceptions

from exchange.errors import ExchangeError


class BrokerUnavailable(ExchangeError):
    """The broker cannot be reached (wrong URL, down, refused credentials)."""


class TopologyMismatch(ExchangeError):
    """The broker already has a queue or exchange of that name with other arguments."""


def refused(exc: pika.exceptions.ChannelClosedByBroker) -> ExchangeError:
    """What a refused declaration means. 406 PRECONDITION_FAILED: a queue exists with other
    arguments, which no retry mends (stop and say so). Anything else, above all 404 for a
    queue whose home node "is down or inaccessible" while the broker is still recovering
    its queues after a restart: retry with backoff, like an unreachable broker."""
    if exc.reply_code == 406:
        return TopologyMismatch(
            f"the broker refused the topology: {exc.reply_text} (a queue declared earlier with "
            "other arguments, e.g. an agreement's retry schedule changed: drain and delete it, "
            "or keep its old settings)"
        )
    return BrokerUnavailable(f"the broker cannot declare the topology yet: {exc.reply_code} {exc.reply_text}")


def connect_blocking(url: str) -> pika.BlockingConnection:
    try:
        return pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(
            f"cannot reach the broker at {redact(url)}: {type(exc).__name__} {exc}"
        ) from None


def redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


__all__ = ["BrokerUnavailable", "TopologyMismatch", "connect_blocking", "redact", "refused"]
