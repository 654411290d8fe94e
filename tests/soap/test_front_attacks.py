"""Issue 13, finding 1: slow and greedy clients against the real HTTP front (loopback only).

The slow clients connect from other loopback addresses (127.0.0.2 ...), as attackers
would from other hosts, so the per-source limit is exercised as it would be in the field;
the checks and partners come from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from exchange.http import build_front
from exchange.metrics import Metrics
from exchange.soap.guard import FrontLimits
from exchange.soap.server import RunningServer, serve
from tests.soap.conftest import EndpointFactory

SLOW_CLIENTS = 300
HOLD_S = 20.0
ANSWER_WITHIN_S = 2.0


@pytest.fixture
def front(endpoint_factory: EndpointFactory) -> Iterator[tuple[RunningServer, FrontLimits]]:
    """The service's front (health, WSGI, SOAP endpoint) with header deadlines long enough
    that the slow clients are really held open for the whole test."""
    endpoint = endpoint_factory()
    limits = FrontLimits(header_timeout_s=HOLD_S + 15, max_per_source=40)
    server = serve(build_front(Metrics(), {}, soap=endpoint.app), "127.0.0.1", 0, limits=limits)
    yield server, limits
    server.stop(timeout=2)


def _slow_client(port: int, source: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"POST /soap/v1 HTTP/1.1\r\nHost: x\r\n")
    return sock


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""  # pragma: no cover - the server never answers a half request
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def _timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()
        return response.status, time.monotonic() - started


@pytest.mark.slow
def test_300_slow_header_clients_do_not_starve_health_or_the_wsdl(
    front: tuple[RunningServer, FrontLimits],
) -> None:
    server, limits = front
    sources = [f"127.0.0.{2 + i // limits.max_per_source}" for i in range(SLOW_CLIENTS)]
    slow = [_slow_client(server.port, source) for source in sources]
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            for path in ("/healthz", "/soap/v1?wsdl"):
                try:
                    status, took = _timed_get(server.base_url + path)
                    latencies.append(took)
                    if status != 200:
                        failures.append(f"{path}: {status}")
                except OSError as exc:
                    failures.append(f"{path}: {exc!r}")
            stop.wait(0.2)

    prober = threading.Thread(target=probe, daemon=True)
    started = time.monotonic()
    prober.start()
    try:
        line = 0
        while time.monotonic() - started < HOLD_S:  # one header line every 2 s per client
            for sock in slow:
                sock.sendall(b"X-Slow-%d: a\r\n" % line)
            line += 1
            time.sleep(2.0)
        open_at_end = sum(_still_open(sock) for sock in slow)
    finally:
        stop.set()
        prober.join(15)
        for sock in slow:
            sock.close()
    print(f"\n{SLOW_CLIENTS} slow clients for {HOLD_S:.0f} s: {len(latencies)} checks, "
          f"max {max(latencies):.3f} s, open at the end {open_at_end}")  # fmt: skip
    assert not failures
    assert len(latencies) >= 40
    assert max(latencies) < ANSWER_WITHIN_S
    assert open_at_end == SLOW_CLIENTS  # they were held, not shed: the front holds them all


def test_a_client_over_its_connection_limit_gets_503_not_a_reset(endpoint_factory: EndpointFactory) -> None:
    limits = FrontLimits(max_per_source=5)
    with serve(build_front(Metrics(), {}), "127.0.0.1", 0, limits=limits) as server:
        held = [_slow_client(server.port, "127.0.0.9") for _ in range(limits.max_per_source)]
        try:
            extra = _slow_client(server.port, "127.0.0.9")
            with extra:
                head = extra.recv(4096)
            assert head.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in head
            assert server.guard.refused["per_source"] == 1
            status, _ = _timed_get(server.base_url + "/healthz")  # another source is served
            assert status == 200
        finally:
            for sock in held:
                sock.close()


def test_headers_that_take_too_long_are_answered_408_and_closed() -> None:
    limits = FrontLimits(header_timeout_s=0.5)
    with serve(build_front(Metrics(), {}), "127.0.0.1", 0, limits=limits) as server:
        sock = _slow_client(server.port, "127.0.0.1")
        with sock:
            started = time.monotonic()
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408 ")
            assert time.monotonic() - started < 2.0
        assert server.guard.refused["header_timeout"] == 1


def test_a_body_that_takes_too_long_closes_the_connection_without_using_an_app_thread() -> None:
    calls: list[str] = []

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        calls.append(str(environ["PATH_INFO"]))
        return []

    with serve(app, "127.0.0.1", 0, limits=FrontLimits(body_timeout_s=0.5)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            assert sock.recv(4096) == b""  # closed
        assert server.guard.refused["body_timeout"] == 1
        assert calls == []


def test_at_capacity_the_oldest_slow_client_makes_room_for_a_health_check() -> None:
    limits = FrontLimits(max_connections=20, max_per_source=100, evict_after_s=0.2)
    with serve(build_front(Metrics(), {}), "127.0.0.1", 0, limits=limits) as server:
        slow = [_slow_client(server.port, "127.0.0.7") for _ in range(limits.max_connections)]
        try:
            time.sleep(0.3)
            status, took = _timed_get(server.base_url + "/healthz")
            assert status == 200 and took < ANSWER_WITHIN_S
            assert server.guard.refused["evicted"] >= 1
            assert slow[0].recv(4096).startswith(b"HTTP/1.1 408 ")  # the oldest was told why
        finally:
            for sock in slow:
                sock.close()


async def _burst(port: int, n: int) -> list[bytes]:
    async def one() -> bytes:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 20)
            writer.close()
            return data[:12]
        except OSError as exc:
            return repr(exc).encode()

    return await asyncio.gather(*(one() for _ in range(n)))


@pytest.mark.parametrize(("per_source", "served"), [(600, 500), (FrontLimits().max_per_source, None)])
def test_a_burst_of_500_requests_is_answered_without_resets(per_source: int, served: int | None) -> None:
    """From one address: within its limit every request is served; past it, 503s, never resets."""
    limits = FrontLimits(max_per_source=per_source)
    with serve(build_front(Metrics(), {}), "127.0.0.1", 0, limits=limits) as server:
        answers = asyncio.run(_burst(server.port, 500))
    ok = sum(a == b"HTTP/1.1 200" for a in answers)
    busy = sum(a == b"HTTP/1.1 503" for a in answers)
    print(f"\n500 at once, {per_source} a source: {ok} answered 200, {busy} 503")
    assert ok + busy == 500, [a for a in answers if not a.startswith(b"HTTP/1.1 ")][:3]
    assert ok == (served if served is not None else ok) and ok >= min(per_source, 500) // 2


def test_the_listen_backlog_is_the_configured_one() -> None:
    """cheroot listened with a backlog of 5; `ss` shows a listening socket's backlog as Send-Q."""
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("ss (iproute2) is not installed")
    with serve(build_front(Metrics(), {}), "127.0.0.1", 0, limits=FrontLimits(backlog=1000)) as server:
        out = subprocess.run([ss, "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True).stdout
    assert out.split()[2] == "1000", out
