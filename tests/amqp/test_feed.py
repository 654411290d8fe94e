"""`exchange feed tail`: the credential stream read from the first record, from an
offset, from a time. A stream of its own per test (bri.feed.test-<hex>), deleted after."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from exchange.service.ops.tail import feed_tail
from tests.amqp.conftest import connect
from tests.amqp.helpers import cli, publish

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def stream(broker: str) -> Iterator[str]:
    name = f"bri.feed.test-{secrets.token_hex(4)}"
    conn = connect(broker)
    conn.channel().queue_declare(name, durable=True, arguments={"x-queue-type": "stream"})
    conn.close()
    yield name
    conn = connect(broker)
    conn.channel().queue_delete(name)
    conn.close()


def append(url: str, stream: str, ids: list[str]) -> None:
    publish(url, "", stream, [(mid, {"record-id": f"REC-{mid}"}) for mid in ids])


def tail(*args: str) -> list[dict[str, Any]]:
    code, out, err = cli("feed", "tail", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_from_first_and_from_an_offset(broker: str, stream: str) -> None:
    ids = [f"m{i}" for i in range(5)]
    append(broker, stream, ids)
    lines = tail("--stream", stream, "--amqp", broker, "--count", "5")
    assert [(x["offset"], x["messageId"], x["recordId"]) for x in lines] == [
        (i, f"m{i}", f"REC-m{i}") for i in range(5)
    ]
    assert lines[0]["credential"] == {"id": "m0"}

    lines = tail("--stream", stream, "--amqp", broker, "--offset", "3")  # ends after 1 s idle
    assert [x["offset"] for x in lines] == [3, 4]
    assert [x["messageId"] for x in lines] == ["m3", "m4"]


def test_from_a_timestamp(broker: str, stream: str) -> None:
    append(broker, stream, ["before-0", "before-1"])
    time.sleep(1.05 - time.time() % 1)  # into the next whole second: the start is taken to it
    start = datetime.fromtimestamp(int(time.time()), UTC)
    append(broker, stream, ["after-0", "after-1", "after-2"])
    lines = tail("--stream", stream, "--amqp", broker, "--from", start.isoformat(), "--count", "3")
    assert [x["messageId"] for x in lines] == ["after-0", "after-1", "after-2"]
    assert [x["offset"] for x in lines] == [2, 3, 4]


def test_count_stops_early_and_bad_bodies_are_shown(broker: str, stream: str) -> None:
    conn = connect(broker)
    conn.channel().basic_publish("", stream, b"not json")
    conn.close()
    append(broker, stream, ["ok"])
    got: list[dict[str, Any]] = []
    t0 = time.monotonic()
    assert feed_tail(broker, got.append, start=0, count=1, stream=stream) == 1
    assert time.monotonic() - t0 < 1  # --count does not wait for the idle second
    assert got[0]["credential"] is None and got[0]["raw"] == "not json"


def test_errors_exit_2(broker: str) -> None:
    code, _, err = cli("feed", "tail", "--stream", f"bri.feed.none-{secrets.token_hex(3)}", "--amqp", broker)
    assert code == 2 and "does not exist" in err
    code, _, err = cli("feed", "tail", "--amqp", "amqp://guest:guest@127.0.0.1:1/")
    assert code == 2 and "cannot reach the broker" in err
    assert cli("feed", "tail", "--first", "--offset", "2")[0] == 2
    assert cli("feed", "tail", "--from", "yesterday")[0] == 2


def test_follow_waits_past_the_idle_time(broker: str, stream: str) -> None:
    import threading

    append(broker, stream, ["f0", "f1"])
    later = threading.Timer(0.5, lambda: append(broker, stream, ["f2", "f3"]))
    later.start()
    got: list[dict[str, Any]] = []
    n = feed_tail(broker, got.append, start="first", count=4, follow=True, idle_s=0.1, stream=stream)
    later.join()
    assert n == 4 and [x["messageId"] for x in got] == ["f0", "f1", "f2", "f3"]
