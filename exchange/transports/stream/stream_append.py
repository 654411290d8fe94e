"""Appends to a stream through the stream protocol with publisher de-duplication.

The broker keeps, per stream and publisher name, the highest publishing id it stored, and
drops (while confirming) any message whose id is not above it. So a message whose confirm
was lost with a node is simply sent again with the same name and id: it lands once, however
often it is sent. Ids are sent in increasing order and everything unconfirmed is re-sent, in
order, on every new connection, so no later id can land before an earlier one is stored.

One appender per process (its name is random, so two processes never share a sequence); it
runs its own asyncio loop in a thread and calls `done(publishing_id, ok)` from that thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import structlog

log = structlog.get_logger("exchange.transports.stream.stream_append")

Done = Callable[[int, bool], None]


@dataclass(slots=True)
class StreamTarget:
    host: str
    port: int
    vhost: str
    username: str
    password: str


def stream_targets(urls: str) -> list[StreamTarget]:
    """`rabbitmq-stream://user:pass@host:port/vhost`, comma-separated (any node will do: the
    appender asks it where the stream's leader is)."""
    out = []
    for u in (x.strip() for x in urls.split(",")):
        if not u:
            continue
        p = urlsplit(u)
        if p.scheme != "rabbitmq-stream" or not p.hostname:
            raise ValueError(f"not a rabbitmq-stream:// URL: {u!r}")
        vhost = unquote(p.path[1:]) if len(p.path) > 1 else "/"
        out.append(
            StreamTarget(
                p.hostname,
                p.port or 5552,
                vhost,
                unquote(p.username or "guest"),
                unquote(p.password or "guest"),
            )
        )
    if not out:
        raise ValueError("no stream URL given")
    return out


@dataclass(slots=True)
class _Pending:
    body: bytes
    properties: dict[str, Any]
    annotations: dict[str, Any]
    application: dict[str, Any]
    done: Done
    first_sent: float
    last_sent: float


class StreamAppender:
    RESEND_AFTER_S = 8.0
    """An append unconfirmed this long: reconnect (maybe to the new leader) and send again."""
    GIVE_UP_S = 60.0
    """An append unconfirmed this long is reported failed and never sent again."""

    def __init__(self, urls: str, stream: str, name: str | None = None):
        self.targets = stream_targets(urls)
        self.stream = stream
        self.name = name or f"mra-{uuid.uuid4().hex[:12]}"
        self._lock = threading.Lock()
        self._next = 0
        self._pending: dict[int, _Pending] = {}
        self._reserved: set[int] = set()
        """Ids handed out and not appended yet: nothing above them is sent before them."""
        self._ready: dict[int, _Pending] = {}
        self._producer: Any = None
        self._target = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stream-append", daemon=True)
        self._connecting: asyncio.Lock | None = None
        self._closed = False
        self.reconnects = 0

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._init(), self._loop).result(timeout=60)

    async def _init(self) -> None:
        self._connecting = asyncio.Lock()
        await self._connect()
        self._loop.create_task(self._watch())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._drop_producer(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # -- what callers use -----------------------------------------------------------------

    def next_id(self) -> int:
        """A publishing id for a new append: record it (durably), then append or release it.
        Ids go out in increasing order whoever appends them (a lower one sent after a higher
        one was stored would be dropped as a duplicate)."""
        with self._lock:
            self._next += 1
            self._reserved.add(self._next)
            return self._next

    def release(self, publishing_id: int) -> None:
        """An id that will not be appended (its claim could not be recorded)."""
        with self._lock:
            self._reserved.discard(publishing_id)
        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._send_ready()))

    def append(
        self,
        publishing_id: int,
        body: bytes,
        properties: dict[str, Any],
        annotations: dict[str, Any],
        application: dict[str, Any],
        done: Done,
    ) -> None:
        """Send (from any thread); `done(publishing_id, ok)` once it is stored (or given up)."""
        now = time.monotonic()
        p = _Pending(body, properties, annotations, application, done, now, now)
        with self._lock:
            self._reserved.discard(publishing_id)
            self._ready[publishing_id] = p
        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._send_ready()))

    def in_flight(self, publishing_id: int) -> bool:
        with self._lock:
            return publishing_id in self._pending

    def sequence(self, name: str, timeout: float = 20.0) -> int:
        """The last publishing id the stream stored for publisher `name` (0: none). Blocking:
        call it off the appender's loop."""
        return asyncio.run_coroutine_threadsafe(self._sequence(name), self._loop).result(timeout=timeout)

    # -- the loop ---------------------------------------------------------------------------

    async def _sequence(self, name: str) -> int:
        last: Exception | None = None
        for _ in range(3):
            try:
                if self._producer is None:
                    await self._connect()
                client = await self._producer.default_client
                return int(await asyncio.wait_for(client.query_publisher_sequence(self.stream, name), 10))
            except Exception as exc:  # a node going away: the next one
                last = exc
                await self._reconnect()
        raise RuntimeError(f"publisher sequence of {name} on {self.stream}: {last}")

    async def _connect(self) -> None:
        from rstream import Producer
        from rstream.recovery import BackOffRecoveryStrategy

        errors = []
        for i in range(len(self.targets)):
            t = self.targets[(self._target + i) % len(self.targets)]
            producer = Producer(
                t.host,
                t.port,
                vhost=t.vhost,
                username=t.username,
                password=t.password,
                heartbeat=10,
                max_retries=1,
                connection_name=self.name,
                recovery_strategy=BackOffRecoveryStrategy(enable=False),  # ours: in order (_reconnect)
            )
            try:
                await asyncio.wait_for(producer.start(), 10)
                self._producer = producer
                self._target = (self._target + i) % len(self.targets)
                return
            except Exception as exc:
                errors.append(f"{t.host}:{t.port}: {exc}")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.close(), 2)
        raise ConnectionError("no stream node answers: " + "; ".join(errors))

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.close(), 3)

    async def _reconnect(self) -> None:
        """A new connection, then everything unconfirmed again, in id order."""
        assert self._connecting is not None
        async with self._connecting:
            await self._drop_producer()
            self.reconnects += 1
            self._target = (self._target + 1) % len(self.targets)
            try:
                await self._connect()
            except ConnectionError as exc:
                log.warning("stream unavailable", stream=self.stream, error=str(exc))
                return
            with self._lock:
                todo = dict(sorted(self._pending.items()))
            if todo:
                log.info("stream: sending unconfirmed appends again", stream=self.stream, count=len(todo))
                await self._send_now(todo, again=True)

    async def _send_ready(self) -> None:
        """One sender at a time, behind any reconnection and its re-sends; only ids below
        every one still reserved: ids go out in order."""
        assert self._connecting is not None
        async with self._connecting:
            with self._lock:
                limit = min(self._reserved, default=None)
                items = {pid: p for pid, p in sorted(self._ready.items()) if limit is None or pid < limit}
                for pid in items:
                    del self._ready[pid]
            if items:
                await self._send_now(items)

    async def _send_now(self, items: dict[int, _Pending], again: bool = False) -> None:
        from rstream import AMQPMessage, Properties

        now = time.monotonic()
        with self._lock:
            for pid, p in items.items():
                p.last_sent = now
                if not again:
                    self._pending[pid] = p
        if self._producer is None:
            return  # the watchdog reconnects and sends them
        batch = []
        for pid, p in sorted(items.items()):
            msg = AMQPMessage(
                body=p.body,
                properties=Properties(**p.properties),
                message_annotations=p.annotations or None,
                application_properties=p.application or None,
            )
            msg.publishing_id = pid  # a NamedTuple underneath: set after construction
            batch.append(msg)
        try:
            await self._producer.send_batch(
                self.stream, batch, publisher_name=self.name, on_publish_confirm=self._confirmed
            )
        except Exception as exc:  # left pending: the watchdog sends again
            log.warning("stream append failed", stream=self.stream, error=str(exc))

    async def _confirmed(self, status: Any) -> None:
        pid = int(status.message_id)
        with self._lock:
            p = self._pending.pop(pid, None) if status.is_confirmed else None
        if p is None:
            return  # an error: stays pending, sent again
        try:
            p.done(pid, True)
        except Exception:
            log.exception("stream append callback failed", publishing_id=pid)

    async def _watch(self) -> None:
        while not self._closed:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            with self._lock:
                late = [pid for pid, p in self._pending.items() if now - p.last_sent > self.RESEND_AFTER_S]
                expired = {pid: p for pid, p in self._pending.items() if now - p.first_sent > self.GIVE_UP_S}
                for pid in expired:
                    del self._pending[pid]
            for pid, p in expired.items():
                log.error("stream append given up", stream=self.stream, publishing_id=pid)
                with contextlib.suppress(Exception):
                    p.done(pid, False)
            if late and len(late) > len(expired):
                await self._reconnect()
