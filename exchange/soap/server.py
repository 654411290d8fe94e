"""The HTTP front for the WSGI app: uvicorn's asyncio server (h11), in-process, so `exchange
run` can start it beside the AMQP loop; TLS for deployments.

Why asyncio and not a thread per connection (cheroot, until issue 13): a connection that
trickles its headers costs a small object here, not a thread, so hundreds of slow or idle
clients cannot take the threads that /healthz, the WSDL and partners need. What guards the
front (exchange/soap/guard.py): a deadline for the headers and one for the body, at most
`max_per_source` connections per address and `max_connections` in all (the oldest
connection still sending headers is dropped first), a real listen backlog, and a graceful
`503 Retry-After` (never a reset) when a limit is reached. The WSGI app runs in a thread
pool (a2wsgi) and only sees requests whose body has arrived whole (exchange/soap/buffered.py).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn

from exchange.soap.buffered import BufferedWsgi
from exchange.soap.guard import FrontLimits, Guard, guarded_protocol

MAX_HEADER_BYTES = 64 * 1024
START_TIMEOUT_S = 10.0
GRACE_S = 10
"""How long `stop()` lets requests in progress finish."""

__all__ = ["FrontLimits", "RunningServer", "TlsSettings", "serve"]


@dataclass(frozen=True, slots=True)
class TlsSettings:
    certificate: Path
    private_key: Path
    chain: Path | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.certificate), str(self.private_key))
        if self.chain is not None:
            context.load_verify_locations(str(self.chain))
        return context


class RunningServer:
    """A server serving in a thread of its own; `stop()` (or leaving `with`) ends it."""

    def __init__(
        self,
        server: uvicorn.Server,
        thread: threading.Thread,
        host: str,
        port: int,
        tls: bool,
        guard: Guard,
        app: BufferedWsgi,
    ):
        self._server = server
        self._app = app
        self._thread = thread
        self.host = host
        self.port = port
        self.tls = tls
        self.guard = guard
        """Counts of what the front refused (tests and /metrics read them)."""

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let requests in progress finish (at most `timeout`), join the thread."""
        self._server.should_exit = True
        self._thread.join(timeout + 1.0)
        self._app.close()

    def wait(self) -> None:
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """Bind now, so a taken port is an OSError in the caller (SO_REUSEADDR: a port left in
    TIME_WAIT by a previous run can be bound again; one that is listening cannot)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setblocking(False)
    return sock


def serve(
    app: Callable[..., Any],
    host: str = "127.0.0.1",
    port: int = 8080,
    tls: TlsSettings | None = None,
    *,
    threads: int = 16,
    limits: FrontLimits | None = None,
) -> RunningServer:
    """Bind now (OSError when the port is taken), then serve in a daemon thread; port 0
    picks a free port (see RunningServer.port). `threads` run the WSGI app."""
    limits = limits or FrontLimits()
    sock = _listen(host, port, limits.backlog)
    guard = Guard(limits)
    context = None if tls is None else tls.context()
    front = BufferedWsgi(app, threads, limits)
    config = uvicorn.Config(
        front,
        http=guarded_protocol(guard),
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        backlog=limits.backlog,
        timeout_keep_alive=max(1, round(limits.keep_alive_s)),
        timeout_graceful_shutdown=GRACE_S,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        ssl_context_factory=None if context is None else (lambda _config, _default: context),
        ssl_certfile=None if tls is None else str(tls.certificate),
    )
    server = uvicorn.Server(config)
    bound_port = int(sock.getsockname()[1])

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"http-front-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    if not server.started:
        server.should_exit = True
        raise OSError(f"the HTTP front on {host}:{bound_port} did not start")
    return RunningServer(server, thread, host, bound_port, tls is not None, guard, front)
