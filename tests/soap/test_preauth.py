"""Issue 13, finding 2: an unauthenticated request costs little, and its refusal costs no row.

The memory figure is measured on a server in a process of its own (tests/soap/memory_server.py):
four concurrent 8 MB envelopes of ~700,000 attributes and no credentials.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exchange.soap.faults import SoapFault
from exchange.soap.preauth import HeaderBudget, read_preamble
from exchange.soap.settings import SoapSettings
from tests.soap.conftest import EndpointFactory
from tests.soap.support import SOAP11, envelope, post

LIMIT = SoapSettings().max_body_bytes
MB = 1024 * 1024
VERIFY = (
    "<mra:VerifyCertificate><mra:CertificateNumber>2019010907123456</mra:CertificateNumber>"
    "</mra:VerifyCertificate>"
)


def _attribute_bomb(where: str, size: int = LIMIT - 4096) -> bytes:
    """~`size` bytes, almost all of it attributes, in the Header or in the Body."""
    one = b'<x a="1" b="2" c="3" d="4" e="5" f="6" g="7" h="8" i="9" j="0"/>'
    bomb = one * ((size - 400) // len(one))
    head = f'<s:Envelope xmlns:s="{SOAP11}" xmlns:mra="urn:mra-exchange:soap:1.0">'.encode()
    if where == "header":
        return (
            head + b"<s:Header>" + bomb + b"</s:Header><s:Body>" + VERIFY.encode() + b"</s:Body></s:Envelope>"
        )
    return (
        head + b"<s:Body><mra:VerifyCertificate>" + bomb + b"</mra:VerifyCertificate></s:Body></s:Envelope>"
    )


def test_the_preamble_stops_at_the_body() -> None:
    data = envelope(VERIFY, header="<w:Security xmlns:w='urn:w'/>") + b"<!-- never read -->" * 10
    preamble = read_preamble(data, HeaderBudget())
    assert preamble.header is not None and len(preamble.header) == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_attribute_bomb("header"), "over the size allowed before authentication"),
        (b"<s:Envelope xmlns:s='%s'><s:Header>" % SOAP11.encode() + b" " * 70000, "does not start within"),
        (envelope(VERIFY, header="<a>" * 20 + "</a>" * 20), "nested deeper"),
        (
            b"<s:Envelope xmlns:s='%s' " % SOAP11.encode()
            + b" ".join(b"xmlns:p%d='u'" % i for i in range(500))
            + b"><s:Body/></s:Envelope>",
            "over the size",
        ),
        (b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x "y">]><s/>', "DOCTYPE"),
    ],
)
def test_what_breaks_the_header_budget_is_refused_unread(data: bytes, reason: str) -> None:
    with pytest.raises(SoapFault) as refused:
        read_preamble(data, HeaderBudget())
    assert refused.value.code.value == "MALFORMED" and reason in refused.value.message


def test_a_large_unauthenticated_envelope_is_refused_before_its_body_is_parsed(
    endpoint_factory: EndpointFactory,
) -> None:
    endpoint = endpoint_factory()
    started = time.perf_counter()
    response = post(endpoint.url, _attribute_bomb("body"))
    took = time.perf_counter() - started
    assert response.fault()[0] == "NOT_AUTHENTICATED"
    assert took < 2.0  # a full parse of 700,000 attributes takes seconds


def test_a_large_authenticated_envelope_is_still_served(endpoint_factory: EndpointFactory) -> None:
    endpoint = endpoint_factory()
    request = endpoint.raw_request("nz", "ListPending")
    end = re.search(rb"</[\w-]+:Body>", request)
    assert end is not None
    big = request[: end.start()] + b" " * (3 * HeaderBudget().max_bytes) + request[end.start() :]
    response = post(endpoint.url, big)
    assert response.status == 200, response.body[:500]
    assert b"ListPendingResponse" in response.body


def test_unauthenticated_refusals_are_counted_and_summarised_not_audited_each(
    endpoint_factory: EndpointFactory,
) -> None:
    endpoint = endpoint_factory()
    before = len(endpoint.rejections())
    for _ in range(25):
        assert post(endpoint.url, envelope(VERIFY)).fault()[0] == "NOT_AUTHENTICATED"
    assert post(endpoint.url, b"not xml").fault()[0] == "MALFORMED"
    rows = endpoint.rejections()[before:]
    assert len(rows) == 1  # the first, in full
    assert rows[0].details["reason"] == "no WS-Security UsernameToken in the header"
    endpoint.app.refusals.flush()
    summary = endpoint.rejections()[before + 1 :]
    assert len(summary) == 1 and summary[0].details["summary"] is True
    assert summary[0].details["refused"] == 25
    assert summary[0].details["codes"] == {"NOT_AUTHENTICATED": 24, "MALFORMED": 1}
    assert summary[0].details["remote"] == "127.0.0.1"
    registry = CollectorRegistry()
    registry.register(endpoint.app.refusals.counter)
    text = generate_latest(registry).decode()
    assert 'mra_soap_refused_unauthenticated_total{code="NOT_AUTHENTICATED"} 25.0' in text
    # an authenticated caller's faults are still audited one by one
    assert endpoint.service("nz").ListPending().More is False


def test_a_new_minute_starts_a_new_window_and_writes_the_old_ones_summary(
    endpoint_factory: EndpointFactory,
) -> None:
    endpoint = endpoint_factory()
    now = [1_000_000.0]
    endpoint.app.refusals.clock = lambda: now[0]
    before = len(endpoint.rejections())
    for _ in range(3):
        post(endpoint.url, envelope(VERIFY))
    now[0] += 61
    post(endpoint.url, envelope(VERIFY))
    rows = endpoint.rejections()[before:]
    assert [bool(r.details.get("summary")) for r in rows] == [False, True, False]
    assert rows[1].details["refused"] == 2


def _rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["body", "header"])
def test_four_concurrent_unauthenticated_8mb_envelopes_cost_under_150mb(tmp_path: Path, where: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.soap.memory_server", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        url = f"http://127.0.0.1:{int(line.split()[1])}/soap/v1"
        bomb = _attribute_bomb(where)
        assert len(bomb) > 8 * 1000 * 1000 and bomb.count(b'="') > 690_000
        post(url, envelope(VERIFY))  # warm: first request's imports and caches
        time.sleep(0.5)
        baseline = _rss(proc.pid)
        peak = baseline
        codes: list[str] = []
        senders = [
            threading.Thread(target=lambda: codes.append(post(url, bomb).fault()[0])) for _ in range(4)
        ]
        for t in senders:
            t.start()
        while any(t.is_alive() for t in senders):
            peak = max(peak, _rss(proc.pid))
            time.sleep(0.01)
        time.sleep(0.5)
        after = _rss(proc.pid)
    finally:
        proc.stdin.close() if proc.stdin else None
        proc.wait(10)
    print(f"\n4 x {len(bomb) / MB:.1f} MB unauthenticated ({where}): RSS {baseline / MB:.0f} MB, "
          f"peak +{(peak - baseline) / MB:.0f} MB, after +{(after - baseline) / MB:.0f} MB")  # fmt: skip
    expected = "NOT_AUTHENTICATED" if where == "body" else "MALFORMED"
    assert codes == [expected] * 4
    assert peak - baseline < 150 * MB
    assert after - baseline < 60 * MB  # returned, not kept


def test_an_undefined_namespace_prefix_is_refused_not_a_crash() -> None:
    """Found by tests/soap/test_fuzz_envelope.py: lxml's pull parser let it through as a tag
    QName() then refused with a ValueError."""
    data = envelope(VERIFY).replace(b"xmlns:s=", b"mlns:s=") + b" " * 70000
    with pytest.raises(SoapFault, match="namespace prefix"):
        read_preamble(data, HeaderBudget())
