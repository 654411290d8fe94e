"""The WSGI app behind the asyncio front: a thread pool (a2wsgi) that only sees whole requests.

The body is read on the event loop first (the guard's body deadline bounds how long), so a
client that trickles its body holds no app thread. A declared Content-Length over the limit
is not read at all: the app sees the header and refuses it itself (TOO_LARGE, a SOAP fault).
At most `max_in_flight` requests wait for or run in the pool; more are answered 503.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from a2wsgi import WSGIMiddleware

from exchange.soap.guard import FrontLimits

Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

_BUSY = b"the server is busy; retry later\n"
_BODY = "mra.body"


def _with_buffered_input(app: Callable[..., Any]) -> Callable[..., Any]:
    """wsgi.input over the buffered body itself: no copy into a2wsgi's own buffer (an
    8 MB request would otherwise be held three times while the app reads it)."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ.get("asgi.scope", {}).get(_BODY)
        if body is not None:
            environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)  # type: ignore[no-any-return]

    return wsgi


class BufferedWsgi:
    def __init__(self, app: Callable[..., Any], threads: int, limits: FrontLimits):
        self._wsgi = WSGIMiddleware(_with_buffered_input(app), workers=threads)
        self._limits = limits
        self.in_flight = 0
        self.busy_refusals = 0

    def close(self) -> None:
        """Let the app threads end once their requests are done."""
        self._wsgi.executor.shutdown(wait=False)

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        read = await self._read_body(scope, receive)
        if read is None:
            return  # the client left (or its body deadline passed) before the request was whole
        body, whole = read
        if not whole:  # what is left unread is not drained: the answer closes the connection
            send = _closing(send)
        if self.in_flight >= self._limits.max_in_flight:
            self.busy_refusals += 1
            await _plain(send, 503, _BUSY)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return await receive()  # type: ignore[no-any-return]

        self.in_flight += 1
        try:
            await self._wsgi({**scope, _BODY: body}, replay, send)  # type: ignore[arg-type]
        finally:
            self.in_flight -= 1

    async def _read_body(self, scope: Message, receive: Receive) -> tuple[bytes, bool] | None:
        """(the body or its first `limit + 1` bytes, whether it was read whole), None when
        the client left."""
        limit = self._limits.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return b"", False
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if not more or size > limit:
                return b"".join(chunks), not more


def _closing(send: Send) -> Send:
    async def send_and_close(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await send(message)

    return send_and_close


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
