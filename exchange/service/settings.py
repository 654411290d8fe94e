"""AMQP settings: environment first (EXCHANGE_AMQP_URL ...), then defaults."""

from __future__ import annotations

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


def with_vhost(url: str, vhost: str) -> str:
    """The same broker and credentials, another virtual host (a partner's)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
