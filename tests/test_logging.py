"""Structured logging: context carried, JSON or console, and secrets never written."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from exchange.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    log_context,
    redact_secrets,
    redact_text,
    redact_url,
    shared_processors,
)

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow1234secret\n-----END RSA PRIVATE KEY-----"


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def redact(**event: Any) -> dict[str, Any]:
    return dict(redact_secrets(None, "info", dict(event)))


def test_secret_keys_are_redacted_at_any_depth() -> None:
    out = redact(
        event="sending",
        password="hunter2",
        DB_PASSWD="x",
        client_secret="y",
        access_token="z",
        private_key=PEM,
        headers={"Authorization": "Basic dXNlcjpwYXNz", "Content-Type": "text/xml"},
        partners=[{"name": "eu", "api-key": "k1"}],
        message_id="m-1",
        partner="eu",
    )
    for key in ("password", "DB_PASSWD", "client_secret", "access_token", "private_key"):
        assert out[key] == REDACTED
    assert out["headers"] == {"Authorization": REDACTED, "Content-Type": "text/xml"}
    assert out["partners"] == [{"name": "eu", "api-key": REDACTED}]
    assert (out["message_id"], out["partner"], out["event"]) == ("m-1", "eu", "sending")


def test_secrets_inside_values_are_redacted() -> None:
    out = redact(
        event="connecting to amqp://svc:p@ss@broker:5672/vh",
        url="postgresql://audit:s3cret@db/exchange",
        plain="https://example.org:8443/path",
        note=f"Authorization: Bearer eyJhbGciOi.abc-def_1 then {PEM}",
    )
    assert out["event"] == f"connecting to amqp://svc:{REDACTED}@broker:5672/vh"
    assert out["url"] == f"postgresql://audit:{REDACTED}@db/exchange"
    assert out["plain"] == "https://example.org:8443/path"
    assert "eyJhbGciOi" not in out["note"] and "MIIEow" not in out["note"]
    assert f"Bearer {REDACTED}" in out["note"]


def test_redaction_leaves_the_callers_dict_alone() -> None:
    headers = {"authorization": "Bearer abc"}
    out = redact(event="x", headers=headers)
    assert headers == {"authorization": "Bearer abc"}
    assert out["headers"] == {"authorization": REDACTED}


def test_redact_helpers() -> None:
    assert redact_url("amqp://guest:guest@localhost/") == "amqp://guest:***@localhost/"
    assert redact_url("amqp://guest@localhost/") == "amqp://guest@localhost/"
    assert redact_text("no secrets here") == "no secrets here"


def test_capture_logs_with_the_redaction_processor() -> None:
    with capture_logs(processors=[redact_secrets]) as logs:
        structlog.get_logger().info("login", user="ana", password="pw", token="t")
    assert logs == [
        {
            "event": "login",
            "user": "ana",
            "password": REDACTED,
            "token": REDACTED,
            "log_level": "info",
        }
    ]


def test_the_configured_chain_via_return_logger() -> None:
    structlog.configure(
        processors=[*shared_processors(), structlog.processors.JSONRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    line = structlog.get_logger().bind(partner="eu").info("sent", api_key="k", n=3)
    doc = json.loads(line)
    assert doc["api_key"] == REDACTED
    assert (doc["partner"], doc["n"], doc["level"]) == ("eu", 3, "info")
    assert doc["timestamp"].endswith("Z")


def test_json_lines_carry_bound_context() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    log = get_logger(message_id="m-1", record_id="CCC-7", partner="eu", agreement="eu-ccc")
    with log_context(worker="w3"):
        log.info("signed", doc_sha256="ab")
        get_logger().warning("slow", ms=1200)  # another logger, same context
    log.info("after")
    docs = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [d["event"] for d in docs] == ["signed", "slow", "after"]
    assert docs[0]["message_id"] == "m-1" and docs[0]["worker"] == "w3"
    assert docs[1]["worker"] == "w3" and "message_id" not in docs[1]
    assert "worker" not in docs[2] and docs[2]["agreement"] == "eu-ccc"


def test_exception_text_is_redacted() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    try:
        raise ConnectionError("cannot reach amqp://svc:topsecret@broker/")
    except ConnectionError:
        get_logger().exception("send failed", password="pw")
    out = stream.getvalue()
    assert "topsecret" not in out and '"pw"' not in out
    assert "ConnectionError" in json.loads(out)["exception"]


def test_level_filters() -> None:
    stream = io.StringIO()
    configure_logging(json=True, level="warning", stream=stream)
    get_logger().info("quiet")
    get_logger().error("loud")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["loud"]


def test_format_follows_the_terminal() -> None:
    piped, tty = io.StringIO(), Tty()
    configure_logging(stream=piped)
    get_logger(partner="eu").info("hello", secret="s")
    assert json.loads(piped.getvalue())["secret"] == REDACTED
    configure_logging(stream=tty)
    get_logger(partner="eu").info("hello", secret="s")
    text = tty.getvalue()
    assert "hello" in text and "partner" in text and "eu" in text
    assert not text.lstrip().startswith("{") and "=s" not in text
    configure_logging(json=False, stream=piped)
    get_logger().info("console-anyway")
    assert "console-anyway" in piped.getvalue().splitlines()[-1]
    assert not piped.getvalue().splitlines()[-1].startswith("{")
