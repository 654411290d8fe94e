"""Structured logging: JSON lines in production, a readable console on a terminal.

Context (message id, record id, partner, agreement, worker) is bound once, with
`get_logger(**context)` or `log_context(**context)`, and rides along on every line after.
Secrets never reach a log line: `redact_secrets` runs last before rendering, over keys
(password, token, authorization, …) and over values (URL passwords, bearer tokens, PEM
private keys), nested dicts and lists included, exception text too.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.contextvars import bound_contextvars
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = [
    "REDACTED",
    "configure_logging",
    "get_logger",
    "log_context",
    "redact_secrets",
    "redact_text",
    "redact_url",
    "shared_processors",
]

REDACTED = "***"

_SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "private_key",
    "privatekey",
    "api_key",
    "apikey",
    "cookie",
    "credential",
)
_URL_USERINFO = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^/\s]*)@")
_BEARER = re.compile(r"\b(?P<scheme>Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_PEM_KEY = re.compile(r"-----BEGIN (?P<kind>[A-Z ]*PRIVATE KEY)-----.*?-----END (?P=kind)-----", re.DOTALL)

log_context = bound_contextvars
"""`with log_context(message_id=…, partner=…):` binds context for every logger in the block."""


def _is_secret_key(key: str) -> bool:
    k = key.lower().replace("-", "_")
    return any(part in k for part in _SECRET_KEY_PARTS)


def redact_url(url: str) -> str:
    """`amqp://user:pass@host/` → `amqp://user:***@host/`; other URLs unchanged."""
    return _URL_USERINFO.sub(lambda m: f"{m['pre']}:{REDACTED}@", url)


def redact_text(text: str) -> str:
    """Secrets that hide inside free text: URL passwords, auth header values, PEM keys."""
    if "://" in text:
        text = redact_url(text)
    if "PRIVATE KEY-----" in text:
        text = _PEM_KEY.sub(lambda m: f"-----{m['kind']} {REDACTED}-----", text)
    if " " in text:
        text = _BEARER.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _is_secret_key(k) else _redact(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace secret values with `***` before anything renders them."""
    out: EventDict = _redact(event_dict)
    return out


def shared_processors() -> list[Processor]:
    """Every processor but the renderer, in order; the tests run exactly these."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,  # exceptions become text, so they get redacted
        redact_secrets,
    ]


def configure_logging(
    json: bool | None = None, level: str | int = "INFO", *, stream: TextIO | None = None
) -> None:
    """Set up structlog once at start-up. `json=None`: JSON unless stderr is a terminal."""
    out = stream if stream is not None else sys.stderr
    if json is None:
        json = not out.isatty()
    lvl = level if isinstance(level, int) else logging.getLevelNamesMapping()[level.upper()]
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=False, default=str)
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[*shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> FilteringBoundLogger:
    """A logger with `context` bound: message_id, record_id, partner, agreement, worker …"""
    logger: FilteringBoundLogger = structlog.get_logger().bind(**context)
    return logger
