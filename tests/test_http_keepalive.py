"""Keep-alive requests answer at once: with Nagle on, a response written as headers then
body waited for the client's delayed ACK, 40 ms a request (SubmitDocument fell to ~19/s)."""

from __future__ import annotations

import http.client
import statistics
import time

from exchange.http import build_front
from exchange.metrics import Metrics
from exchange.soap.server import serve


def test_keep_alive_requests_do_not_wait_for_a_delayed_ack() -> None:
    server = serve(build_front(Metrics(), {}), "127.0.0.1", 0)
    try:
        host, port = server.base_url.split("//", 1)[1].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        took = []
        for _ in range(30):
            start = time.perf_counter()
            conn.request("POST", "/healthz", body=b"x" * 5000, headers={"Content-Type": "text/xml"})
            response = conn.getresponse()
            response.read()
            took.append(time.perf_counter() - start)
        conn.close()
    finally:
        server.stop()
    median_ms = statistics.median(took[1:]) * 1000
    assert median_ms < 25, f"median keep-alive request {median_ms:.1f} ms (40+ ms: Nagle and delayed ACK)"
