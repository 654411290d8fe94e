"""Which credentials already are on the feed stream: what makes re-publishing safe.

A publish whose confirm was lost with a connection may or may not have reached the stream,
and a stream cannot be de-duplicated after the fact. So a feed message redelivered in state
SENT is not published again blindly: the stream is read from just before that send up to its
tail (known before reading starts), and only what is not there is published again. Reading
and publishing happen on one channel per worker, and the broker redelivers a channel's
unacknowledged messages only after that channel is gone, so no earlier copy is still on its
way once the check runs (a short grace covers the stream writer's own queue)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pika
import pika.exceptions

from exchange.amqp.settings import broker_urls

LOOK_BACK = timedelta(seconds=5)
"""Read from this long before the earliest send: stream chunks carry second-grained times."""


def _connect(url: str) -> pika.BlockingConnection:
    params = []
    for u in broker_urls(url):
        p = pika.URLParameters(u)
        p.socket_timeout = 5
        params.append(p)
    return pika.BlockingConnection(params)


def tail_offset(channel: Any, stream: str, timeout: float = 5.0) -> int | None:
    """The offset of the stream's last message (None: the stream is empty)."""
    last: int | None = None
    deadline = time.monotonic() + timeout
    for method, props, _body in channel.consume(
        stream, arguments={"x-stream-offset": "last"}, inactivity_timeout=0.5
    ):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        offset = int((props.headers or {}).get("x-stream-offset", -1))
        last = offset if last is None else max(last, offset)
        if time.monotonic() > deadline:
            break
    channel.cancel()
    return last


def landed(url: str, stream: str, since: datetime, message_ids: set[str], timeout: float = 60.0) -> set[str]:
    """The ids among `message_ids` on `stream` at or after `since` (up to its current tail)."""
    if not message_ids:
        return set()
    conn = _connect(url)
    try:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=2000)
        end = tail_offset(ch, stream)
        if end is None:
            return set()
        found: set[str] = set()
        deadline = time.monotonic() + timeout
        start = since - LOOK_BACK
        for method, props, _body in ch.consume(
            stream, arguments={"x-stream-offset": start}, inactivity_timeout=2
        ):
            if method is None:
                break  # nothing more: the tail was reached
            ch.basic_ack(int(method.delivery_tag or 0), multiple=True)
            mid = props.message_id if props is not None else None
            if mid is not None and mid in message_ids:
                found.add(mid)
            offset = int(((props.headers if props is not None else None) or {}).get("x-stream-offset", -1))
            if offset >= end or found == message_ids:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {stream} took longer than {timeout:g} s")
        ch.cancel()
        return found
    finally:
        if conn.is_open:
            conn.close()
