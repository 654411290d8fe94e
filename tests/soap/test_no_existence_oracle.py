"""No existence oracle: for every operation that takes an id, an id that belongs to another
partner (or to a certificate outside the caller's agreement) and an id that does not exist
get the same answer: HTTP status, fault code, fault text with the id taken out, detail
(request id aside); and the same timing class (medians of interleaved calls over real
HTTP). Both kinds of attempt are still told apart in our own audit trail."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from lxml import etree

from exchange.audit import AuditEntry, AuditEvent
from tests import canonical_samples as samples
from tests.soap.support import MRA, Endpoint, post

ROUNDS = 60
FOREIGN_ID = "eu-out-1"
UNKNOWN_ID = "eu-out-9"  # the same length and shape: only existence differs
OUTSIDE_CERT = "2019012203123456"  # category 2203, outside nz's ee scope
UNKNOWN_CERT = "2019012203654321"

Case = tuple[str, str, str, dict[str, Any]]
CASES: list[Case] = [
    ("GetDeliveryStatus", FOREIGN_ID, UNKNOWN_ID, {}),
    ("PullDocument", FOREIGN_ID, UNKNOWN_ID, {}),
    ("AcknowledgeDocument", FOREIGN_ID, UNKNOWN_ID, {"Outcome": "OK"}),
    ("VerifyCertificate", OUTSIDE_CERT, UNKNOWN_CERT, {}),
]


@pytest.fixture
def world(endpoint: Endpoint) -> Endpoint:
    """An eu document waiting to be pulled (and audited), a certificate nz may not see."""
    endpoint.store.enqueue_for_pull("eu", FOREIGN_ID, "glp", "facility-1", b"<eu-doc/>")
    endpoint.audit.append(AuditEntry(AuditEvent.SEND_ENQUEUED, message_id=FOREIGN_ID, partner="eu"))
    endpoint.audit.flush()
    endpoint.store.record_certificate(samples.certificate(category="2203", certNo=OUTSIDE_CERT))
    return endpoint


def _answer(
    endpoint: Endpoint, operation: str, key: str, value: str, extra: dict[str, Any]
) -> tuple[int, str | None, str | None, str]:
    """(status, fault code, fault string, detail without the request id), the id blanked."""
    body = endpoint.raw_request("nz", operation, **{key: value, **extra})
    got = post(endpoint.url, body)
    root = etree.fromstring(got.body)
    fault = root.find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault is not None, f"{operation}({value}) answered without a fault"
    detail = fault.find(f"detail/{{{MRA}}}FaultDetail")
    assert detail is not None
    request_id = detail.find(f"{{{MRA}}}RequestId")
    assert request_id is not None
    detail.remove(request_id)
    text = etree.tostring(fault).decode().replace(value, "<id>")
    return got.status, fault.findtext("faultcode"), detail.findtext(f"{{{MRA}}}Code"), text


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


@pytest.mark.parametrize(("operation", "taken", "unknown", "extra"), CASES, ids=[c[0] for c in CASES])
def test_another_partners_id_and_an_unknown_id_answer_alike(
    world: Endpoint, operation: str, taken: str, unknown: str, extra: dict[str, Any]
) -> None:
    key = "CertificateNumber" if operation == "VerifyCertificate" else "MessageId"
    first = _answer(world, operation, key, taken, extra)
    second = _answer(world, operation, key, unknown, extra)
    assert first == second, f"{operation}: {taken} and {unknown} are told apart"
    code = first[2]
    assert code in ("UNKNOWN_DOCUMENT", "UNKNOWN_CERTIFICATE")

    # Same timing class: interleaved (order alternating), medians within 25 % or 2 ms.
    service = world.service("nz", plugins=[])
    call = getattr(service, operation)
    times: dict[str, list[float]] = {taken: [], unknown: []}
    for i in range(ROUNDS):
        for value in (taken, unknown) if i % 2 else (unknown, taken):
            times[value].append(_timed(partial(_expect_fault, call, **{key: value, **extra})))
    medians = {v: statistics.median(t) for v, t in times.items()}
    slow, fast = max(medians.values()), min(medians.values())
    summary = (
        f"{operation}: {code} for both; median {medians[taken] * 1e3:.2f} ms (taken) vs "
        f"{medians[unknown] * 1e3:.2f} ms (unknown) over {ROUNDS} calls each"
    )
    print(summary)
    assert slow - fast <= max(0.25 * fast, 0.002), summary

    # Our own trail still says which was which (never shown to either partner).
    reached = [e for e in world.rejections() if e.details.get("caller") == "nz"]
    if operation != "VerifyCertificate":
        assert reached and all(e.partner is None and e.message_id == taken for e in reached)


def _expect_fault(call: Callable[..., object], **kwargs: Any) -> None:
    import zeep

    try:
        call(**kwargs)
    except zeep.exceptions.Fault:
        return
    raise AssertionError(f"no fault for {kwargs}")
