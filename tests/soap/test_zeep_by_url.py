"""zeep as a partner first meets us: `python -m zeep http://.../soap/v1?wsdl` against a
running `exchange run` prints the service (the WSDL and every XSD it imports come from the
service's HTTP front), a zeep client made from the URL calls through, and a hostile Host
header is echoed in none of the contract's files."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest
import zeep
from lxml import etree
from zeep.wsse.username import UsernameToken

from exchange.soap.contract import served_schemas
from exchange.soap.loopback import SECRETS
from tests.amqp.isolated import World
from tests.soap.running import start_run

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

OPERATIONS = (
    "SubmitDocument", "VerifyCertificate", "ListPending", "PullDocument", "AcknowledgeDocument",
    "GetDeliveryStatus",
)  # fmt: skip


def _get(url: str, host: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body: bytes = answer.read()
    return body


def test_zeep_prints_and_calls_the_service_of_a_running_exchange_run(world: World) -> None:
    running = start_run(world)

    printed = subprocess.run(
        [sys.executable, "-m", "zeep", running.wsdl], capture_output=True, text=True, timeout=120,
        env=world.env,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr[-3000:]
    out = printed.stdout
    assert "Service: ExchangeService" in out, out[-3000:]
    assert "Port: ExchangeSoap11" in out and "Port: ExchangeSoap12" in out
    listed = [op for op in OPERATIONS if f"{op}(" in out]
    assert listed == list(OPERATIONS), f"`python -m zeep` listed {len(listed)} of {len(OPERATIONS)}"

    client = zeep.Client(running.wsdl, wsse=UsernameToken("nz", SECRETS["nz"], use_digest=True))
    assert client.service._binding_options["address"] == f"{running.base}/soap/v1"
    assert client.service.ListPending().More is False

    files = {"wsdl": running.wsdl, **{name: f"{running.base}/soap/{name}" for name in served_schemas()}}
    for host in ("evil.example.com", "evil.example.com:8443"):
        for name, url in files.items():
            served = _get(url, host)
            etree.fromstring(served)  # well-formed
            assert b"evil" not in served, f"{name} echoes the Host header {host}"
    print(
        f"zeep {zeep.__version__}: `python -m zeep` printed {len(listed)} operations on 2 ports; "
        f"{len(files)} contract files served by `exchange run`, Host header echoed in none"
    )
