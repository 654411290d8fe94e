"""What keeps slow, idle and greedy clients from starving the HTTP front.

One h11 protocol per connection (uvicorn's), plus: a deadline for the request headers and
one for the body (a client that trickles them is answered 408 and closed), at most
`max_per_source` open connections per client address, at most `max_connections` in all.
At the global limit the oldest connection still sending its headers makes room; when
there is none the newcomer gets `503 Retry-After`. Refusals are written in full and the
connection half-closed, so clients read an answer rather than a reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True, slots=True)
class FrontLimits:
    header_timeout_s: float = 10.0
    """From the first byte of a request (or the connection) to the end of its headers."""
    body_timeout_s: float = 60.0
    """From the end of the headers to the end of the body (8 MB at ~140 kB/s)."""
    keep_alive_s: float = 5.0
    max_connections: int = 4000
    max_per_source: int = 128
    max_in_flight: int = 512
    """Requests read whole and waiting for, or in, an app thread; more are answered 503."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Buffered before the app sees the request; the app's own limits are smaller."""
    backlog: int = 2048
    evict_after_s: float = 1.0
    """A connection still sending headers this long may be dropped to make room."""


@dataclass(slots=True)
class Guard:
    """Shared by the connections of one server (one event loop: no locks needed)."""

    limits: FrontLimits
    per_source: Counter[str] = field(default_factory=Counter)
    open: int = 0
    header_phase: dict[Any, float] = field(default_factory=dict)
    """Connections waiting for request headers, oldest first (dicts keep insertion order)."""
    refused: Counter[str] = field(default_factory=Counter)
    """Why connections were refused or closed: per_source, capacity, header_timeout, body_timeout."""

    def admit(self, source: str) -> str | None:
        """None when a connection from `source` may open, else why not."""
        if self.per_source[source] >= self.limits.max_per_source:
            return "per_source"
        if self.open >= self.limits.max_connections and not self._evict_one():
            return "capacity"
        return None

    def _evict_one(self) -> bool:
        now = time.monotonic()
        for proto, since in self.header_phase.items():
            if now - since < self.limits.evict_after_s:
                return False
            proto.time_out("evicted")
            return True
        return False


_REFUSALS = {
    "per_source": (503, b"too many connections from your address; retry later\n"),
    "capacity": (503, b"the server is at capacity; retry later\n"),
    "header_timeout": (408, b"the request headers took too long\n"),
    "evicted": (408, b"the request headers took too long\n"),
    "body_timeout": (408, b"the request body took too long\n"),
}
_REASONS = {408: b"Request Timeout", 503: b"Service Unavailable"}
_LINGER_S = 2.0


def _raw_response(status: int, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
        b"Retry-After: 1\r\nConnection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
    )


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines per request phase and admission per source."""

    guard: Guard

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        self._phase: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closing_gracefully = False
        self._source = self.client[0] if self.client else "?"
        refusal = self.guard.admit(self._source)
        self._counted = refusal is None
        if refusal is not None:
            self._refuse(refusal)
            return
        self.guard.per_source[self._source] += 1
        self.guard.open += 1
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_phase(None)
        if self._counted:
            self._counted = False
            self.guard.open -= 1
            self.guard.per_source[self._source] -= 1
            if self.guard.per_source[self._source] <= 0:
                del self.guard.per_source[self._source]
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closing_gracefully:
            return  # a refused client's request is read and dropped, so closing does not reset
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    # -- deadlines ----------------------------------------------------------------------

    def _watch(self) -> None:
        if self.transport.is_closing():
            self._set_phase(None)
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            phase = "headers" if self.conn.our_state is h11.IDLE else None
        elif state is h11.SEND_BODY:
            phase = "body"
        else:
            phase = None
        self._set_phase(phase)

    def _set_phase(self, phase: str | None) -> None:
        if phase == self._phase:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.guard.header_phase.pop(self, None)
        self._phase = phase
        limits = self.guard.limits
        if phase == "headers":
            self.guard.header_phase[self] = time.monotonic()
            self._timer = self.loop.call_later(limits.header_timeout_s, self.time_out, "header_timeout")
        elif phase == "body":
            self._timer = self.loop.call_later(limits.body_timeout_s, self.time_out, "body_timeout")

    def time_out(self, why: str) -> None:
        phase = self._phase
        self._set_phase(None)
        self.guard.refused[why] += 1
        if self.transport.is_closing():
            return
        if phase == "headers" and self.conn.our_state is h11.IDLE:
            self._refuse(why, count=False)
        else:  # the app may be answering: nothing can be written in between
            self.transport.close()

    def _refuse(self, why: str, *, count: bool = True) -> None:
        if count:
            self.guard.refused[why] += 1
        status, body = _REFUSALS[why]
        self._closing_gracefully = True
        self.transport.write(_raw_response(status, body))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_S, self.transport.close)

    def shutdown(self) -> None:
        if self._closing_gracefully:
            self.transport.close()
            return
        super().shutdown()


def guarded_protocol(guard: Guard) -> type[H11Protocol]:
    """A protocol class bound to one server's guard (uvicorn instantiates it per connection)."""
    return type("GuardedH11Protocol", (GuardedProtocol,), {"guard": guard})


def _no_delay(transport: asyncio.Transport) -> None:
    """TCP_NODELAY: a response goes out as headers then body, and with Nagle on, the body
    waited for the client's delayed ACK (40 ms per keep-alive request)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # a socket already closing: nothing to speed up
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
