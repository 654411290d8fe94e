"""The stream appender against the broker's stream protocol (rabbitmq_stream, port 5552):
publisher de-duplication drops a re-sent publishing id, and ids handed out in one order but
appended in another all land. Read back over AMQP, as a feed consumer would."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pika
import pytest

from exchange.transports.stream.stream_append import StreamAppender, stream_targets
from tests.amqp.conftest import connect

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(120)]

STREAM_PORT = int(os.environ.get("EXCHANGE_TEST_STREAM_PORT", "5552"))


@pytest.fixture
def stream(broker: str) -> Iterator[tuple[str, str]]:
    """A stream of its own on the shared broker; the stream URL for the appender."""
    try:
        socket.create_connection(("127.0.0.1", STREAM_PORT), timeout=2).close()
    except OSError as exc:
        reason = (
            f"no stream protocol listener on {STREAM_PORT} (rabbitmq-plugins enable rabbitmq_stream): {exc}"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"mra-t-stream-{uuid.uuid4().hex[:8]}"
    conn = connect(broker)
    conn.channel().queue_declare(name, durable=True, arguments={"x-queue-type": "stream"})
    conn.close()
    try:
        yield name, f"rabbitmq-stream://guest:guest@127.0.0.1:{STREAM_PORT}/"
    finally:
        conn = connect(broker)
        conn.channel().queue_delete(name)
        conn.close()


def read_ids(broker: str, stream: str, expected: int) -> list[str]:
    conn = connect(broker)
    ids: list[str] = []
    try:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=500)
        for method, props, _body in ch.consume(
            stream, arguments={"x-stream-offset": "first"}, inactivity_timeout=3
        ):
            if method is None:
                break
            ids.append(str(props.message_id))
            ch.basic_ack(method.delivery_tag)
            if len(ids) > expected + 50:
                break
    finally:
        conn.close()
    return ids


class Confirms:
    def __init__(self) -> None:
        self.left: set[int] = set()
        self.lock = threading.Lock()
        self.failed: list[int] = []

    def send(self, appender: StreamAppender, items: list[tuple[int, str]]) -> None:
        with self.lock:
            self.left.update(pid for pid, _ in items)
        for pid, mid in items:
            appender.append(pid, mid.encode(), {"message_id": mid}, {}, {"k": "v"}, self.confirmed)

    def confirmed(self, pid: int, ok: bool) -> None:
        with self.lock:
            self.left.discard(pid)
            if not ok:
                self.failed.append(pid)

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.left and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.left, f"unconfirmed: {sorted(self.left)[:5]}"
        assert not self.failed


def append_all(appender: StreamAppender, items: list[tuple[int, str]]) -> None:
    c = Confirms()
    c.send(appender, items)
    c.wait()


def test_a_re_sent_publishing_id_lands_once(broker: str, stream: tuple[str, str]) -> None:
    name, url = stream
    first = StreamAppender(url, name)
    first.start()
    try:
        items = [(first.next_id(), f"m-{i}") for i in range(200)]
        append_all(first, items)
        assert first.sequence(first.name) == 200
    finally:
        first.close()
    # the same publisher after a lost connection: everything again, and ten new ones
    again = StreamAppender(url, name, name=first.name)
    again.start()
    try:
        again._next = 0
        items = [(again.next_id(), f"m-{i}") for i in range(210)]
        append_all(again, items)
    finally:
        again.close()
    ids = read_ids(broker, name, 210)
    assert len(ids) == 210
    assert ids == [f"m-{i}" for i in range(210)]


def test_ids_appended_out_of_order_all_land(broker: str, stream: tuple[str, str]) -> None:
    name, url = stream
    appender = StreamAppender(url, name)
    appender.start()
    try:
        a, b, c = appender.next_id(), appender.next_id(), appender.next_id()
        appender.release(b)  # never appended
        confirms = Confirms()
        confirms.send(appender, [(c, "third")])  # held back until `a` is appended
        time.sleep(1)
        assert confirms.left == {c}
        confirms.send(appender, [(a, "first")])
        confirms.wait()
        assert appender.sequence(appender.name) == c
    finally:
        appender.close()
    assert read_ids(broker, name, 2) == ["first", "third"]


def test_stream_urls_are_parsed() -> None:
    [t] = stream_targets("rabbitmq-stream://u:p%40ss@h:5561/mra-v")
    assert (t.host, t.port, t.username, t.password, t.vhost) == ("h", 5561, "u", "p@ss", "mra-v")
    with pytest.raises(ValueError, match="rabbitmq-stream"):
        stream_targets("amqp://h/")
    assert pika  # the AMQP side reads them back
