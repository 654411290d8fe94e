"""Publishing many messages with pipelined confirms (a window in flight), for
`exchange publish`, benchmarks and tests: never one round trip per message."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.spec import BasicProperties

from exchange.service.broker import BrokerUnavailable, redact
from exchange.service.confirm import ConfirmingPublisher


@dataclass(frozen=True, slots=True)
class Outgoing:
    exchange: str
    routing_key: str
    body: bytes
    properties: BasicProperties


@dataclass
class PublishReport:
    confirmed: int = 0
    failed: list[tuple[str | None, str]] = field(default_factory=list)


def publish_many(url: str, messages: Iterable[Outgoing], window: int = 1000) -> PublishReport:
    report = PublishReport()
    source: Iterator[Outgoing] = iter(messages)
    state: dict[str, Any] = {"publisher": None, "exhausted": False, "error": None}

    def pump() -> None:
        pub: ConfirmingPublisher = state["publisher"]
        while pub.in_flight < window and not state["exhausted"]:
            try:
                msg = next(source)
            except StopIteration:
                state["exhausted"] = True
                break
            mid = msg.properties.message_id

            def done(ok: bool, reason: str | None, mid: str | None = mid) -> None:
                if ok:
                    report.confirmed += 1
                else:
                    report.failed.append((mid, reason or "failed"))
                if not state["exhausted"]:
                    conn.ioloop.add_callback_threadsafe(pump) if pub.in_flight < window // 2 else None
                elif pub.in_flight == 0:
                    conn.close()

            pub.publish(msg.exchange, msg.routing_key, msg.body, msg.properties, done)
        if state["exhausted"] and pub.in_flight == 0 and conn.is_open:
            conn.close()

    def on_channel(ch: Any) -> None:
        state["publisher"] = ConfirmingPublisher(ch)
        ch.add_on_close_callback(lambda c, e: conn.close() if conn.is_open else None)
        pump()

    def on_open_error(_c: Any, exc: Any) -> None:
        state["error"] = exc
        conn.ioloop.stop()

    def on_closed(_c: Any, exc: Any) -> None:
        pub = state["publisher"]
        if pub is not None and pub.in_flight:
            pub.fail_all(f"connection closed: {exc}")
        conn.ioloop.stop()

    def on_open(c: Any) -> None:
        c.channel(on_open_callback=on_channel)

    conn = pika.SelectConnection(
        pika.URLParameters(url),
        on_open_callback=on_open,
        on_open_error_callback=on_open_error,
        on_close_callback=on_closed,
    )
    conn.ioloop.start()
    if state["error"] is not None:
        raise BrokerUnavailable(f"cannot reach the broker at {redact(url)}: {state['error']}")
    return report
