"""The outbound client against the simulated EU partner over real loopback HTTP, through each
fault: the outcome and reason it must report, what the partner counted, what was stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from exchange.signing import KeyPairFiles, verify_enveloped
from exchange.soap.envelope import Envelope, Sign
from exchange.transports.soap_push.outbound import Outcome
from exchange.transports.soap_push.simulator import EU, Fault
from exchange.xml.safe import parse_bytes
from tests.soap.test_outbound_support import DOCUMENT, Rig, start_rig


@pytest.fixture
def rig(tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]) -> Iterator[Rig]:
    r = start_rig(tmp_path, our_keys, partner_keys["eu"], timeout_s=0.5, slow_s=3.0)
    yield r
    r.close()


def test_acknowledged_receipt_is_verified_and_stored(rig: Rig, partner_keys: dict[str, KeyPairFiles]) -> None:
    result = rig.client.send(DOCUMENT, message_id="m-ack", conversation_id="2019010907123456")
    assert result.outcome is Outcome.ACKNOWLEDGED and result.reason is None and result.receipt_id
    stats = rig.sim.stats.as_dict()
    assert stats["deliveries"] == 1 and stats["acknowledged"] == 1 and stats["duplicates"] == 0
    [stored] = rig.receipts.for_message("eu", "m-ack")
    assert stored.receipt_id == result.receipt_id and stored.status == "ACK"
    # the stored bytes still prove it, on their own, with the partner's certificate
    signed = verify_enveloped(parse_bytes(stored.receipt), partner_keys["eu"].certificate.read_bytes())
    assert signed.findtext(f"{{{EU}}}RefToMessageId") == "m-ack"


def test_headers_reach_the_partner(rig: Rig) -> None:
    seen: list[etree._Element] = []
    original = rig.sim.app._receive

    def spy(envelope: Envelope, fault: Fault, sign: Sign | None) -> bytes:
        seen.append(envelope.payload.getroottree().getroot())
        return original(envelope, fault, sign)

    rig.sim.app._receive = spy  # type: ignore[method-assign]
    rig.client.send(DOCUMENT, message_id="m-2", conversation_id="conv-1", ref_to="m-1")
    [envelope] = seen
    info = envelope.find(f".//{{{EU}}}MessageInfo")
    assert info is not None
    assert [info.findtext(f"{{{EU}}}{n}") for n in ("MessageId", "ConversationId", "RefToMessageId")] == [
        "m-2",
        "conv-1",
        "m-1",
    ]


# fault -> (outcome, words the reason must contain, the partner acknowledged it, a receipt stored)
CASES = {
    Fault.HTTP_500: (Outcome.FAILED, "HTTP 500", False, False),
    Fault.MALFORMED: (Outcome.FAILED, "malformed response", False, False),
    Fault.SOAP_FAULT: (Outcome.FAILED, "SOAP fault from the partner (UNAVAILABLE)", False, False),
    Fault.REJECT: (Outcome.REJECTED, "EU-REG-7: the notified body number is unknown", False, True),
    Fault.WARN: (Outcome.WARNED, None, True, True),
    Fault.BAD_SIGNATURE: (Outcome.FAILED, "receipt signature invalid", True, False),
    Fault.SLOW: (Outcome.FAILED, "no answer within 0.5 s", None, False),
}


@pytest.mark.parametrize("fault", list(CASES), ids=lambda f: f.value)
def test_each_fault_then_recovery(rig: Rig, fault: Fault) -> None:
    """One fault, then the partner is well again: the retry is acknowledged exactly once."""
    outcome, words, acked, stored = CASES[fault]
    rig.sim.set_fault(fault, times=1)
    first = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c-1")
    assert first.outcome is outcome
    if words is not None:
        assert first.reason is not None and words in first.reason
    assert len(rig.receipts.for_message("eu", "m-1")) == (1 if stored else 0)
    if fault is Fault.SLOW:
        rig.sim.app.wake()  # the partner finishes the slow request: it does get the message
        deadline = time.monotonic() + 10  # and has finished with it before the retry comes
        while rig.sim.stats.acknowledged.get("m-1", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)

    retry = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c-1")
    assert retry.outcome in (Outcome.ACKNOWLEDGED, Outcome.WARNED)
    stats = rig.sim.stats
    assert stats.acknowledged == {"m-1": 1}  # acknowledged once, never twice
    # A retry of a message the partner had acknowledged (its answer lost or unreadable to us)
    # is the partner's duplicate: it answers with the first receipt and processes nothing.
    first_reached = acked or (fault is Fault.SLOW and stats.deliveries.get("m-1", 0) == 2)
    assert stats.duplicates == (1 if first_reached else 0)
    if fault is Fault.WARN:  # sent again although delivered: the partner repeats its first receipt
        assert retry.outcome is Outcome.WARNED and retry.receipt_id == first.receipt_id


def test_duplicate_receipt_is_not_taken_for_ours(rig: Rig) -> None:
    first = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c-1")
    rig.sim.set_fault(Fault.DUPLICATE_RECEIPT, times=1)
    second = rig.client.send(DOCUMENT, message_id="m-2", conversation_id="c-1")
    assert first.outcome is Outcome.ACKNOWLEDGED
    assert second.outcome is Outcome.FAILED
    assert second.reason == f"the receipt {first.receipt_id} is for message m-1, not m-2"
    assert rig.receipts.for_message("eu", "m-2") == []
    third = rig.client.send(DOCUMENT, message_id="m-2", conversation_id="c-1")
    assert third.outcome is Outcome.ACKNOWLEDGED
    assert rig.sim.stats.acknowledged == {"m-1": 1, "m-2": 1} and rig.sim.stats.duplicates == 0


def test_partner_down(rig: Rig) -> None:
    rig.sim.set_fault(Fault.DOWN)
    result = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c-1")
    assert result.outcome is Outcome.FAILED and result.reason is not None
    assert result.reason.startswith("partner unreachable")
    assert rig.sim.stats.requests == 0


def test_a_run_through_every_fault_loses_nothing(rig: Rig) -> None:
    """Nine messages, each meeting one fault first, retried until delivered: the counts."""
    faults = [f for f in CASES if f is not Fault.SLOW] + [Fault.DUPLICATE_RECEIPT, Fault.NONE, Fault.NONE]
    sent = failed = 0
    reasons: list[str] = []
    rig.client.send(DOCUMENT, message_id="warm-up", conversation_id="c")  # something to replay
    for i, fault in enumerate(faults):
        mid = f"m-{i}"
        rig.sim.set_fault(fault, times=1)
        for _ in range(3):
            result = rig.client.send(DOCUMENT, message_id=mid, conversation_id="c")
            sent += 1
            if result.delivered:
                break
            failed += 1
            reasons.append(result.reason or "")
        assert result.delivered, mid
    stats = rig.sim.stats
    assert (sent, failed, len(faults)) == (15, 6, 9)
    assert all(reasons), "every failure has a reason"
    assert all(stats.acknowledged[f"m-{i}"] == 1 for i in range(len(faults)))  # once each
    lost = [f"m-{i}" for i in range(len(faults)) if not rig.receipts.for_message("eu", f"m-{i}")]
    assert lost == []
    assert stats.duplicates == 1  # BAD_SIGNATURE: the partner had acknowledged; we refused its receipt
