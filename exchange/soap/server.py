"""A production HTTP server for the WSGI app: cheroot, threaded, in-process, so `exchange
run` can start it beside the AMQP loop; TLS (cheroot's builtin adapter) for deployments."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

MAX_HEADER_BYTES = 64 * 1024
POLL_S = 0.1
"""How often the accept loop looks up: bounds how long `stop()` takes (cheroot's default is 0.5 s)."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    certificate: Path
    private_key: Path
    chain: Path | None = None


class RunningServer:
    """A server serving in a thread of its own; `stop()` (or leaving `with`) ends it."""

    def __init__(self, server: Any, thread: threading.Thread, host: str, port: int, tls: bool):
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        self.tls = tls

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let requests in progress finish, join the thread."""
        self._server.stop()
        self._thread.join(timeout)

    def wait(self) -> None:
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    app: Any, host: str = "127.0.0.1", port: int = 8080, tls: TlsSettings | None = None, *, threads: int = 16
) -> RunningServer:
    """Bind now (OSError when the port is taken), then serve in a daemon thread; port 0
    picks a free port (see RunningServer.port)."""
    server = wsgi.Server((host, port), app, numthreads=threads, server_name="mra-exchange", timeout=30)
    server.max_request_header_size = MAX_HEADER_BYTES
    server.max_request_body_size = 0  # the app applies its own limit, so the refusal is a SOAP fault
    server.expiration_interval = POLL_S
    if tls is not None:
        server.ssl_adapter = BuiltinSSLAdapter(
            str(tls.certificate), str(tls.private_key), None if tls.chain is None else str(tls.chain)
        )
    server.prepare()
    bound_port = int(server.bind_addr[1])
    thread = threading.Thread(target=server.serve, name=f"soap-http-{bound_port}", daemon=True)
    thread.start()
    return RunningServer(server, thread, host, bound_port, tls is not None)
