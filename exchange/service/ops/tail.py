"""`exchange feed tail`: the feed stream read from an offset, each entry as JSON (credentials
decoded from their JWS payload)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pika
import pika.exceptions
from pika.spec import Basic, BasicProperties

from exchange.service.broker import BrokerUnavailable, redact
from exchange.service.ops.queues import OpsError
from exchange.service.topology import (
    FEED_STREAM,
)

StreamOffset = str | int | datetime
"""'first' | 'last' | 'next', an offset, or a time (sent as an AMQP timestamp)."""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def feed_record(offset: Any, props: BasicProperties, body: bytes) -> dict[str, Any]:
    """One output line: where it is in the stream, whose it is, and the credential."""
    headers = props.headers or {}
    record_id = headers.get("record-id")
    line: dict[str, Any] = {
        "offset": int(offset) if offset is not None else None,
        "messageId": props.message_id,
        "recordId": _text(record_id) if record_id is not None else None,
    }
    if props.content_type == "application/vc+jwt":
        line["certificate"] = _text(headers["certificate"]) if "certificate" in headers else None
        line["timestamp"] = props.timestamp
        line["jwt"] = body.decode("ascii", "replace")
        body = _jws_payload(body)  # shown, not verified: `exchange verify-credential` does that
    try:
        line["credential"] = json.loads(body)
    except ValueError as exc:
        line["credential"] = None
        line["error"] = f"not JSON: {exc}"
        line["raw"] = body.decode("utf-8", "replace")
    return line


def _jws_payload(token: bytes) -> bytes:
    """The payload of a compact JWS, unverified (b"" when it is not one)."""
    import base64

    parts = token.split(b".")
    if len(parts) != 3:
        return b""
    try:
        return base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4))
    except ValueError:
        return b""


def feed_tail(
    url: str,
    emit: Callable[[dict[str, Any]], None],
    start: StreamOffset = "first",
    count: int | None = None,
    follow: bool = False,
    idle_s: float = 1.0,
    stream: str = FEED_STREAM,
    prefetch: int = 200,
) -> int:
    """Read the credential stream from `start`, emit each record; returns how many.

    Stops after `count`, or after `idle_s` without a message unless `follow`. Following
    survives a lost connection: it reconnects and resumes after the last offset seen.
    A time start attaches at chunk granularity, to the second: a few records published
    just before it may come too. An offset start is exact (earlier ones are skipped here).
    """
    tail = _Tail(url, emit, count, follow, idle_s, stream, prefetch)
    backoff = 0.5
    while True:
        offset: StreamOffset = start if tail.last is None else tail.last + 1
        tail.run(offset)
        if tail.error is not None:
            raise tail.error
        if tail.done or not follow:
            return tail.emitted
        if tail.connected:
            backoff = 0.5
        time.sleep(backoff)  # following, and the connection was lost: resume after `last`
        backoff = min(backoff * 2, 30.0)


class _Tail:
    """One stream consumer on a SelectConnection, ended by closing the connection.

    Not pika's BlockingChannel: when a consumer stops it rejects the deliveries it has
    buffered, and a stream answers basic.reject by closing the connection (540). Closing
    the connection instead just drops them, which is all a stream (non-destructive) needs.
    """

    def __init__(
        self,
        url: str,
        emit: Callable[[dict[str, Any]], None],
        count: int | None,
        follow: bool,
        idle_s: float,
        stream: str,
        prefetch: int,
    ):
        self.url = url
        self.emit = emit
        self.count = count
        self.follow = follow
        self.idle_s = idle_s
        self.stream = stream
        self.prefetch = prefetch
        self.emitted = 0
        self.last: int | None = None
        self.done = False
        self.error: Exception | None = None
        self.connected = False
        self.ever_connected = False
        self.conn: Any = None
        self.channel: Any = None
        self.floor: int | None = None
        self.timer: Any = None
        self.unacked = 0

    def run(self, offset: StreamOffset) -> None:
        self.connected = False
        self.floor = offset if isinstance(offset, int) else None
        self.conn = pika.SelectConnection(
            pika.URLParameters(self.url),
            on_open_callback=lambda c: self._guard(lambda: self._on_open(c, offset)),
            on_open_error_callback=self._on_open_error,
            on_close_callback=lambda c, e: self._on_closed(e),
        )
        try:
            self.conn.ioloop.start()
        except KeyboardInterrupt:
            self.done = True  # Ctrl-C while following: a normal end
            if self.conn.is_open:
                self.conn.close()
                self.conn.ioloop.start()

    def _on_closed(self, exc: Any) -> None:
        if not self.done and self.error is None and not self.follow:
            self.error = BrokerUnavailable(f"lost the broker at {redact(self.url)}: {exc}")
        self._cancel_timer()
        self.conn.ioloop.stop()

    def _on_open_error(self, _conn: Any, exc: Any) -> None:
        if not self.follow or not self.ever_connected:
            self.error = BrokerUnavailable(f"cannot reach the broker at {redact(self.url)}: {exc}")
        self.conn.ioloop.stop()

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # e.g. stdout closed under us: end, do not hang
            self.error = exc
            self._finish()

    def _finish(self) -> None:
        self._cancel_timer()
        if self.conn.is_open:
            self.conn.close()

    def _on_open(self, conn: Any, offset: StreamOffset) -> None:
        self.connected = self.ever_connected = True
        conn.channel(on_open_callback=lambda ch: self._guard(lambda: self._on_channel(ch, offset)))

    def _on_channel(self, channel: Any, offset: StreamOffset) -> None:
        self.channel = channel
        channel.add_on_close_callback(self._on_channel_closed)

        def consume(_frame: Any) -> None:
            channel.basic_consume(
                self.stream,
                lambda ch, m, p, b: self._guard(lambda: self._on_message(m, p, b)),
                auto_ack=False,
                arguments={"x-stream-offset": offset},
            )
            self._arm_timer()

        # A stream refuses a consumer without a prefetch, and one without manual acks.
        channel.basic_qos(prefetch_count=self.prefetch, callback=lambda f: self._guard(lambda: consume(f)))

    def _on_channel_closed(self, _channel: Any, exc: Any) -> None:
        if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
            if exc.reply_code == 404:
                self.error = OpsError(f"stream {self.stream} does not exist")
            else:
                self.error = OpsError(f"stream {self.stream}: {exc.reply_text}")
        self._finish()

    def _arm_timer(self) -> None:
        if self.follow:
            return
        self._cancel_timer()
        self.timer = self.conn.ioloop.call_later(self.idle_s, self._on_idle)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.conn.ioloop.remove_timeout(self.timer)
            self.timer = None

    def _on_idle(self) -> None:
        self.timer = None
        self.done = True
        self._finish()

    def _on_message(self, method: Basic.Deliver, props: BasicProperties, body: bytes) -> None:
        if self.done:
            return
        self.unacked += 1
        if self.unacked >= max(1, self.prefetch // 2):  # acks are the stream's credit
            self.channel.basic_ack(method.delivery_tag, multiple=True)
            self.unacked = 0
        position = (props.headers or {}).get("x-stream-offset")
        if self.floor is not None and position is not None and int(position) < self.floor:
            self._arm_timer()
            return  # the stream starts delivering at a chunk boundary
        if position is not None:
            self.last = int(position)
        self.emit(feed_record(position, props, body))
        self.emitted += 1
        if self.count is not None and self.emitted >= self.count:
            self.done = True
            self._finish()
            return
        self._arm_timer()
