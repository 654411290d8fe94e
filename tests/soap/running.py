"""`exchange run` as a partner meets it: a subprocess with its HTTP front on a free loopback
port, the broker (an isolated vhost, see tests/amqp/isolated.py), keys made with `exchange
keys generate`, NZ as a pull partner whose shared secret is in a file beside the agreements.
For clients we did not write (suds, zeep's command line) loading the contract by URL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from exchange.soap.loopback import SECRETS
from tests.amqp.isolated import World

NZ_AGREEMENT = """
source = "adapters.domestic:source"
[partners.nz]
name = "New Zealand (test)"
format = "adapters.nz:format"
families = ["ccc"]
transport = "soap"
retry_seconds = [1, 1]
[partners.nz.options]
delivery = "pull"
soap_secret_file = "nz.secret"
"""
READY_S = 90


@dataclass(frozen=True)
class Running:
    base: str
    """http://127.0.0.1:PORT"""
    process: subprocess.Popen[bytes]

    @property
    def wsdl(self) -> str:
        return f"{self.base}/soap/v1?wsdl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generate_keys(world: World) -> dict[str, str]:
    """`exchange keys generate` as the README says; its `export` lines as environment."""
    out = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "keys", "generate", "--out", str(world.root / "keys")],
        env=world.env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    exports = [line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines()]
    return {name: value for name, value in exports}


def start_run(world: World, env: dict[str, str] | None = None) -> Running:
    """`exchange run --http 127.0.0.1:<free port>` serving NZ; ready when /readyz says so."""
    config = world.root / "soap-agreements.toml"
    config.write_text(NZ_AGREEMENT, encoding="utf-8")
    (world.root / "nz.secret").write_text(SECRETS["nz"] + "\n", encoding="utf-8")
    port = free_port()
    log_path = world.root / "run-soap.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "exchange.cli", "run", "--http", f"127.0.0.1:{port}"],
            env={**world.env, "EXCHANGE_CONFIG": str(config), **generate_keys(world), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    world.processes.append(process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exchange run ended ({process.returncode}):\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as answer:
                if answer.status == 200:
                    world.wait_for_consumers("mra.nz.work")
                    return Running(base, process)
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"exchange run not ready within {READY_S} s:\n{log_path.read_text()[-3000:]}")
