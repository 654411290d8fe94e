"""The HTTP front under attack: a partner's p99 with N slow-header clients beside its p99 without.

    python bench/bench_front.py [--slow 300] [--requests 400]

One SOAP endpoint on loopback with the default front limits. The partner (nz, zeep,
PasswordDigest) calls ListPending `--requests` times with nobody else connected, then again
while `--slow` clients (from 127.0.0.2 and up, as from other hosts) each send one header line
a second and reconnect whenever the front drops them. Prints both p99s, their ratio, and
what the front refused, then one JSON line. Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from exchange.signing import generate_key_pair
from exchange.soap.guard import FrontLimits
from exchange.soap.loopback import start_endpoint

ATTACK_LIMIT_S = 300.0


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def _partner_latencies(service: Any, n: int) -> list[float]:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        service.ListPending()
        took.append(time.perf_counter() - started)
    return took


class SlowClients:
    """N connections that never finish their headers; any the front drops is opened again."""

    def __init__(self, port: int, n: int, per_source: int):
        self.port = port
        self.sources = [f"127.0.0.{2 + i // per_source}" for i in range(n)]
        self.socks: list[socket.socket | None] = [None] * n
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, i: int) -> None:
        sock = socket.socket()
        sock.bind((self.sources[i], 0))
        sock.settimeout(2)
        sock.connect(("127.0.0.1", self.port))
        sock.sendall(b"POST /soap/v1 HTTP/1.1\r\nHost: x\r\n")
        self.socks[i] = sock

    def __enter__(self) -> SlowClients:
        for i in range(len(self.socks)):
            self._open(i)
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + ATTACK_LIMIT_S
        line = 0
        while not self._stop.wait(1.0) and time.monotonic() < deadline:
            line += 1
            for i, sock in enumerate(self.socks):
                try:
                    assert sock is not None
                    sock.sendall(b"X-Slow-%d: a\r\n" % line)
                except OSError:
                    sock.close() if sock is not None else None
                    self.reconnects += 1
                    try:
                        self._open(i)
                    except OSError:
                        self.socks[i] = None

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.socks:
            if sock is not None:
                sock.close()


def bench_front(slow: int, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mra-bench-front-") as tmp:
        root = Path(tmp)
        ours = generate_key_pair(root / "ours", common_name="mra-exchange bench")
        partner = generate_key_pair(root / "partner", common_name="partner bench")
        pem = partner.certificate.read_bytes()
        endpoint = start_endpoint(root / "endpoint", ours, certificates={"eu": pem, "nz": pem})
        try:
            service = endpoint.service("nz")
            _partner_latencies(service, 20)  # warm-up
            quiet = _partner_latencies(service, requests)
            with SlowClients(endpoint.server.port, slow, FrontLimits().max_per_source) as attack:
                time.sleep(2.0)
                attacked = _partner_latencies(service, requests)
                reconnects = attack.reconnects
            refused = dict(endpoint.server.guard.refused)
        finally:
            endpoint.close()
    return {
        "bench": "front",
        "slow_clients": slow,
        "requests": requests,
        "p99_quiet_ms": round(_p99(quiet) * 1000, 2),
        "p99_under_attack_ms": round(_p99(attacked) * 1000, 2),
        "ratio": round(_p99(attacked) / _p99(quiet), 2),
        "slow_reconnects": reconnects,
        "refused": refused,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=300)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    report = bench_front(args.slow, args.requests)
    print(f"partner p99 without attack   {report['p99_quiet_ms']:8.2f} ms")
    print(f"partner p99, {args.slow} slow clients {report['p99_under_attack_ms']:8.2f} ms"
          f"  (x{report['ratio']})")  # fmt: skip
    print(json.dumps(report))


if __name__ == "__main__":
    main()
