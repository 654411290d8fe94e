"""Which credentials already are on the feed stream: what makes re-publishing safe.

A publish whose confirm was lost with a connection may or may not have reached the stream,
and a stream cannot be de-duplicated after the fact. So a feed message redelivered in state
SENT is not published again blindly: the stream is read from just before that send up to its
tail (known before reading starts), and only what is not there is published again. Reading
and publishing happen on one channel per worker, and the broker redelivers a channel's
unacknowledged messages only after that channel is gone, so no earlier copy is still on its
way once the check runs (a short grace covers the stream writer's own queue)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pika
import pika.exceptions

from exchange.service.settings import broker_urls

LOOK_BACK = timedelta(seconds=5)
"""Read from this long before the earliest send: stream chunks carry second-grained times."""


def _connect(url: str) -> pika.BlockingConnection:
    params = []
    for u in broker_urls(url):
        p = pika.URLParameters(u)
        p.socket_timeout = 5
        params.append(p)
    return pika.BlockingConnection(params)


def _read(
    conn: pika.BlockingConnection,
    stream: str,
    offset: object,
    stop: Callable[[str | None, int], bool],
    timeout: float,
    idle: float,
    must_finish: bool = True,
) -> bool:
    """Consume `stream` from `offset`, calling stop(message id, stream offset) for each
    message until it says True (or `idle` seconds bring nothing): True when stopped. A
    callback consumer, not the generator: cancelling the generator nacks what it buffered,
    which a stream refuses (closing the channel)."""
    ch = conn.channel()
    ch.basic_qos(prefetch_count=2000)
    state = {"done": False, "seen": time.monotonic()}

    def on_message(channel: object, method: object, props: object, _body: bytes) -> None:
        state["seen"] = time.monotonic()
        tag = int(getattr(method, "delivery_tag", 0) or 0)
        ch.basic_ack(tag)
        if state["done"]:
            return
        headers = getattr(props, "headers", None) or {}
        if stop(getattr(props, "message_id", None), int(headers.get("x-stream-offset", -1))):
            state["done"] = True

    ch.basic_consume(stream, on_message, arguments={"x-stream-offset": offset})
    deadline = time.monotonic() + timeout
    while not state["done"] and time.monotonic() - float(state["seen"]) < idle:
        if time.monotonic() > deadline:
            if not must_finish:
                break
            raise TimeoutError(f"reading {stream} took longer than {timeout:g} s")
        conn.process_data_events(time_limit=0.2)  # type: ignore[arg-type]  # a float works
    # Closing nacks what the client still buffers, which a stream refuses: harmless here.
    with contextlib.suppress(pika.exceptions.AMQPError):
        ch.close()
    return bool(state["done"])


def tail_offset(conn: pika.BlockingConnection, stream: str) -> int | None:
    """The offset of the stream's last message now (None: the stream is empty)."""
    seen: list[int] = []

    def stop(_mid: str | None, offset: int) -> bool:
        seen.append(offset)
        return False

    _read(conn, stream, "last", stop, timeout=2, idle=0.5, must_finish=False)  # later ones: a bonus
    return max(seen) if seen else None


def landed(url: str, stream: str, since: datetime, message_ids: set[str], timeout: float = 60.0) -> set[str]:
    """The ids among `message_ids` on `stream` at or after `since` (up to its current tail)."""
    if not message_ids:
        return set()
    conn = _connect(url)
    try:
        end = tail_offset(conn, stream)
        if end is None:
            return set()
        found: set[str] = set()

        def stop(mid: str | None, offset: int) -> bool:
            if mid is not None and mid in message_ids:
                found.add(mid)
            return offset >= end or found == message_ids

        _read(conn, stream, since - LOOK_BACK, stop, timeout=timeout, idle=3)
        return found
    finally:
        if conn.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                conn.close()
