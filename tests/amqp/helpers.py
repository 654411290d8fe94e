"""Shared bits of the broker tests: publishing with confirms, running the CLI."""

from __future__ import annotations

import json
from typing import Any

import pika
import typer
from typer.testing import CliRunner

from exchange.service.ops_cli import register_ops
from exchange.service.publish import Outgoing, publish_many


def ops_app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    register_ops(app)
    return app


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"EXCHANGE_AUDIT_URL": None, "EXCHANGE_CONFIG": None}).invoke(
        ops_app(), list(args)
    )
    return result.exit_code, result.stdout, result.stderr


def props(message_id: str, **headers: Any) -> pika.BasicProperties:
    return pika.BasicProperties(
        delivery_mode=2, message_id=message_id, content_type="application/json", headers=headers
    )


def publish(url: str, exchange: str, key: str, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """(message id, headers) each, body = {"id": message id}; all confirmed or the test fails."""
    report = publish_many(
        url,
        [Outgoing(exchange, key, json.dumps({"id": mid}).encode(), props(mid, **h)) for mid, h in messages],
    )
    assert report.confirmed == len(messages), report.failed
