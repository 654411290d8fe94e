"""AMQP settings: environment first (EXCHANGE_AMQP_URL ...), then defaults.

EXCHANGE_AMQP_URL may name several brokers of one cluster, comma-separated: connections
try them in order, and a lost one moves on to the next. Every helper here keeps that form
(a vhost or a user applies to each broker)."""

from __future__ import annotations

import socket
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic_settings import BaseSettings, SettingsConfigDict

from exchange.config import DEFAULT_AMQP_URL


class AmqpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXCHANGE_AMQP_", extra="ignore")

    url: str = DEFAULT_AMQP_URL
    prefetch: int = 1000
    batch_size: int = 250
    linger_ms: int = 0
    """Extra wait for a batch to fill; 0: a batch is what the loop had ready to read."""
    receipt_timeout_s: float = 30.0
    reconnect_max_s: float = 30.0
    held_check_s: float = 15.0
    """How often a partner whose vhost was missing at start is looked for again."""
    heartbeat_s: int = 30
    convert_workers: int = 1
    """Processes that parse and convert domestic messages beside the I/O loop (0: inline)."""
    replicas: int | None = None
    """Replicas of every quorum queue and stream (x-quorum-initial-group-size,
    x-initial-cluster-size); unset: as many as EXCHANGE_AMQP_URL names brokers, if several.
    Every process declaring on one cluster must agree (the broker refuses other values)."""
    stream_url: str | None = None
    """`rabbitmq-stream://user:pass@host:5552/vhost`, comma-separated: bri.feed is appended
    through the stream protocol with publisher de-duplication (each credential version lands
    once whatever fails); unset: through AMQP, an uncertain append checked against the stream."""
    node: str | None = None
    """The RabbitMQ node rabbitmqctl provisions on (`-n`), e.g. mra1@localhost; unset: its default."""


def broker_urls(url: str) -> list[str]:
    """The brokers a (possibly comma-separated) EXCHANGE_AMQP_URL names, in order."""
    urls = [u.strip() for u in url.split(",") if u.strip()]
    if not urls:
        raise ValueError("EXCHANGE_AMQP_URL names no broker")
    return urls


def replicas_for(url: str) -> int | None:
    """The replica count queues are declared with: EXCHANGE_AMQP_REPLICAS, else the number
    of brokers the URL names when it names several (one broker: the broker's default)."""
    explicit = AmqpSettings().replicas
    if explicit is not None:
        return explicit
    count = len(broker_urls(url))
    return count if count > 1 else None


def first_reachable(url: str, timeout: float = 1.0) -> str:
    """The first broker of the list accepting a TCP connection (the first one if none does,
    so the caller's own error names it): for one-shot tools (publish, status, bench)."""
    urls = broker_urls(url)
    if len(urls) == 1:
        return urls[0]
    for candidate in urls:
        parts = urlsplit(candidate)
        try:
            socket.create_connection((parts.hostname or "localhost", parts.port or 5672), timeout).close()
            return candidate
        except OSError:
            continue
    return urls[0]


def with_vhost(url: str, vhost: str) -> str:
    """The same broker(s) and credentials, another virtual host (a partner's)."""
    if "," in url:
        return ",".join(with_vhost(u, vhost) for u in broker_urls(url))
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def with_user(url: str, user: str, password: str) -> str:
    if "," in url:
        return ",".join(with_user(u, user, password) for u in broker_urls(url))
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
