"""The NZ partner simulator (exchange/soap/partner_nz.py) pulling from our real endpoint over
real HTTP, through every fault: what it does shows in our pull outbox and audit trail,
and nothing is lost or settled twice."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree

from adapters.nz import format as nz_format
from exchange.signing import KeyPairFiles, Signer
from exchange.soap import MemoryHandoff, PullState
from exchange.soap.credentials import partner_credential
from exchange.transports.soap_pull.simulator import PullFault, PullPartner, PullSimulator
from tests.soap.conftest import EndpointFactory
from tests.soap.support import Endpoint, agreements, eess_record, nz_document, signed

SETTLED = {"ACKNOWLEDGED", "ACKNOWLEDGED_WITH_WARNING", "SEND_FAILURE"}
REASON = "NZ-EESS-4: the responsible supplier is not registered"


def start_partner(endpoint: Endpoint, **kwargs: Any) -> PullPartner:
    """The simulator with the credentials the agreement gives NZ (as its CLI does)."""
    credential = partner_credential(endpoint.config, "nz")
    assert credential is not None and credential.secret is not None
    options: dict[str, Any] = {
        "our_cert": endpoint.our_cert,
        "reject_reason": REASON,
        "slow_s": 0.3,
        **kwargs,
    }
    return PullPartner(endpoint.url, credential.username, credential.secret.decode(), nz_format, **options)


@pytest.fixture
def nz(endpoint: Endpoint) -> Iterator[PullPartner]:
    partner = start_partner(endpoint)
    yield partner
    partner.close()


_ours: list[Signer] = []


@pytest.fixture(autouse=True)
def _our_signer(our_keys: KeyPairFiles) -> Iterator[None]:
    """Documents wait in the outbox signed by us, as `exchange run` leaves them."""
    _ours.append(Signer.from_files(our_keys.key, our_keys.certificate))
    yield
    _ours.clear()


def enqueue(endpoint: Endpoint, *ids: str, document: bytes | None = None) -> None:
    for mid in ids:
        doc = document or signed(nz_document(), _ours[0])
        assert endpoint.store.enqueue_for_pull("nz", mid, "ccc", f"rec-{mid}", doc)


def state(endpoint: Endpoint, mid: str) -> tuple[PullState, str | None]:
    entry = endpoint.store.outbox_entry(mid)
    assert entry is not None
    return entry.state, entry.reason


# every fault, one document: the state it leaves in our outbox and the audit trail
CASES = {
    PullFault.NONE: (PullState.ACKNOWLEDGED, ["DOWNLOADED", "ACKNOWLEDGED"]),
    PullFault.SLOW: (PullState.ACKNOWLEDGED, ["DOWNLOADED", "ACKNOWLEDGED"]),
    PullFault.ACK_WARN: (PullState.ACKNOWLEDGED, ["DOWNLOADED", "ACKNOWLEDGED_WITH_WARNING"]),
    PullFault.ACK_FAILED: (PullState.FAILED, ["DOWNLOADED", "SEND_FAILURE"]),
    PullFault.DUPLICATE_ACK: (PullState.ACKNOWLEDGED, ["DOWNLOADED", "ACKNOWLEDGED"]),
    PullFault.NO_ACK: (PullState.DOWNLOADED, ["DOWNLOADED"]),
    PullFault.DOWN: (PullState.PENDING, []),
    PullFault.MALFORMED: (PullState.PENDING, []),
    PullFault.WRONG_CREDENTIALS: (PullState.PENDING, []),
}


@pytest.mark.parametrize("fault", list(PullFault))
def test_each_fault_leaves_its_state_then_the_partner_recovers(
    endpoint: Endpoint, nz: PullPartner, fault: PullFault
) -> None:
    assert set(CASES) == set(PullFault)
    enqueue(endpoint, "m-1")
    nz.set_fault(fault)
    started = time.monotonic()
    nz.poll_once()
    expected_state, expected_trail = CASES[fault]
    assert state(endpoint, "m-1")[0] is expected_state
    assert endpoint.trail("m-1") == expected_trail
    counts = nz.counts()
    if fault is PullFault.SLOW:
        assert time.monotonic() - started >= 0.3
    if fault is PullFault.ACK_FAILED:
        assert state(endpoint, "m-1") == (PullState.FAILED, REASON)
        (entry,) = [e for e in endpoint.audit.trace("m-1") if str(e.event) == "SEND_FAILURE"]
        assert entry.details["reason"] == REASON and entry.actor == "soap:nz"
    if fault is PullFault.ACK_WARN:
        (entry,) = [e for e in endpoint.audit.trace("m-1") if str(e.event) == "ACKNOWLEDGED_WITH_WARNING"]
        assert entry.details["warnings"] == ["simulated: the HS code is not in the NZ tariff"]
    if fault is PullFault.DUPLICATE_ACK:
        assert counts["duplicate_acks"] == 1 and counts["acknowledged"]["ok"] == 1 and counts["errors"] == 0
    if fault in (PullFault.MALFORMED, PullFault.WRONG_CREDENTIALS):
        code = "MALFORMED" if fault is PullFault.MALFORMED else "NOT_AUTHENTICATED"
        assert counts["error_codes"] == {code: 1}
        assert endpoint.last_rejection().details["code"] == code
    if fault is PullFault.DOWN:
        assert counts["listed"] == 0 and counts["errors"] == 0
    assert counts["faults"] == ({} if fault is PullFault.NONE else {fault.value: 1})

    nz.set_fault(PullFault.NONE)
    nz.poll_once()
    final = PullState.FAILED if fault is PullFault.ACK_FAILED else PullState.ACKNOWLEDGED
    assert state(endpoint, "m-1")[0] is final
    trail = endpoint.trail("m-1")
    assert sum(1 for e in trail if e in SETTLED) == 1, trail  # settled once, whatever came before
    if fault is PullFault.NO_ACK:  # listed again as DOWNLOADED, pulled again, then acknowledged
        assert trail == ["DOWNLOADED", "DOWNLOADED", "ACKNOWLEDGED"]
        assert nz.stats.pulled == {"m-1": 2}


def test_a_document_failing_the_nz_schema_is_acknowledged_failed_with_the_reason(
    endpoint: Endpoint, nz: PullPartner
) -> None:
    root = etree.fromstring(nz_document())
    root.remove(root[2])  # CertificateType is required
    enqueue(endpoint, "m-bad", document=signed(etree.tostring(root), _ours[0]))
    enqueue(endpoint, "m-good")
    nz.poll_once()
    failed, reason = state(endpoint, "m-bad")
    assert failed is PullState.FAILED and reason is not None
    assert reason.startswith("not a valid NZ document") and "CertificateType" in reason
    assert state(endpoint, "m-good")[0] is PullState.ACKNOWLEDGED
    assert nz.counts()["invalid"] == 1 and nz.counts()["acknowledged"] == {"ok": 1, "warn": 0, "failed": 1}


def test_documents_are_validated_as_pulled_signature_in_place(endpoint: Endpoint, nz: PullPartner) -> None:
    """The simulator no longer takes the signature off first: one the NZ 1.1 schema does not
    allow where it is (first child instead of last) fails, though it still verifies."""
    misplaced = etree.fromstring(signed(nz_document(), _ours[0]))
    misplaced.insert(0, misplaced[-1])
    enqueue(endpoint, "m-misplaced", document=etree.tostring(misplaced))
    enqueue(endpoint, "m-good")
    nz.poll_once()
    failed, reason = state(endpoint, "m-misplaced")
    assert failed is PullState.FAILED and reason is not None
    assert reason.startswith("not a valid NZ document") and "Signature" in reason, reason
    assert state(endpoint, "m-good") == (PullState.ACKNOWLEDGED, None)


def test_our_signature_is_required_and_checked(
    endpoint: Endpoint, nz: PullPartner, partner_signers: dict[str, Signer]
) -> None:
    enqueue(endpoint, "m-ours")
    enqueue(endpoint, "m-forged", document=signed(nz_document(), partner_signers["rogue"]))
    enqueue(endpoint, "m-unsigned", document=nz_document())
    nz.poll_once()
    assert state(endpoint, "m-ours") == (PullState.ACKNOWLEDGED, None)
    forged, reason = state(endpoint, "m-forged")
    assert forged is PullState.FAILED and reason is not None and "does not verify" in reason
    assert state(endpoint, "m-unsigned") == (PullState.FAILED, "the document is not signed")


def test_through_every_fault_in_turn_nothing_is_lost_or_settled_twice(endpoint: Endpoint) -> None:
    """Pages of three under each fault in turn, then a healthy partner drains the rest."""
    sent = [f"m-{i:02d}" for i in range(30)]
    enqueue(endpoint, *sent)
    nz = start_partner(endpoint, page=3)
    try:
        for fault in PullFault:
            nz.set_fault(fault)
            nz.poll_once()
        nz.set_fault(PullFault.NONE)
        for _ in range(20):
            if not nz.poll_once().listed:
                break
        counts = nz.counts()
    finally:
        nz.close()

    outbox = {mid: state(endpoint, mid) for mid in sent}
    settled = {mid: [e for e in endpoint.trail(mid) if e in SETTLED] for mid in sent}
    result = {
        "sent": len(sent),
        "pulled": sum(1 for mid in sent if "DOWNLOADED" in endpoint.trail(mid)),
        "acknowledged_once": sum(
            1 for s in settled.values() if s in (["ACKNOWLEDGED"], ["ACKNOWLEDGED_WITH_WARNING"])
        ),
        "failed_with_reason": sum(
            1 for st, why in outbox.values() if st is PullState.FAILED and why == REASON
        ),
        "lost": sum(1 for st, _ in outbox.values() if st not in (PullState.ACKNOWLEDGED, PullState.FAILED)),
        "duplicates": sum(1 for s in settled.values() if len(s) > 1),
    }
    # one page each: ack-failed fails 3, ack-warn warns 3; the rest end acknowledged
    assert result == {
        "sent": 30,
        "pulled": 30,
        "acknowledged_once": 27,
        "failed_with_reason": 3,
        "lost": 0,
        "duplicates": 0,
    }
    assert counts["acknowledged"] == {"ok": 24, "warn": 3, "failed": 3}
    assert counts["duplicate_acks"] == 3  # duplicate-ack's page, each answered and changing nothing
    assert counts["pulled"] == 33  # no-ack's page was pulled again
    assert counts["error_codes"] == {"MALFORMED": 1, "NOT_AUTHENTICATED": 1}
    # what the partner said is what our outbox holds
    verdicts = Counter(nz.stats.verdicts.values())
    assert verdicts["FAILED"] == sum(1 for st, _ in outbox.values() if st is PullState.FAILED)


def test_the_control_page_shows_counts_and_switches_faults(endpoint: Endpoint) -> None:
    enqueue(endpoint, "m-1", "m-2")
    with PullSimulator(start_partner(endpoint), interval_s=0.05) as sim:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _get(sim.url + "stats")["acknowledged"]["ok"] < 2:
            time.sleep(0.05)
        stats = _get(sim.url + "stats")
        assert (stats["listed"], stats["pulled"], stats["acknowledged"]) == (
            2,
            2,
            {"ok": 2, "warn": 0, "failed": 0},
        )
        assert stats["errors"] == 0 and stats["fault"] == "none"

        assert _post(sim.url + "fault?set=no-ack")["fault"] == "no-ack"
        enqueue(endpoint, "m-3")
        while time.monotonic() < deadline and _get(sim.url + "stats")["pulled"] < 4:
            time.sleep(0.05)
        assert state(endpoint, "m-3")[0] is PullState.DOWNLOADED  # pulled again and again, never settled
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post(sim.url + "fault?set=sulk")
        assert refused.value.code == 400
        form = urllib.request.Request(sim.url + "fault", data=b"fault=none", method="POST")
        with urllib.request.urlopen(form, timeout=10) as page:  # the page's button, redirected back
            assert b"NZ partner simulator" in page.read()
        assert _get(sim.url + "fault")["fault"] == "none"
        while time.monotonic() < deadline and state(endpoint, "m-3")[0] is not PullState.ACKNOWLEDGED:
            time.sleep(0.05)
        assert state(endpoint, "m-3")[0] is PullState.ACKNOWLEDGED
    assert endpoint.trail("m-3")[-1] == "ACKNOWLEDGED"


def test_nz_records_are_submitted(endpoint: Endpoint, nz: PullPartner) -> None:
    accepted = nz.submit([nz_document(), nz_document(eess_record(certNo="NZ-ESS-2021-0043"))])
    assert len(accepted) == 2 and nz.counts()["submitted"] == 2
    assert isinstance(endpoint.handoff, MemoryHandoff)
    assert [i.message_id for i in endpoint.handoff.items] == accepted
    assert [i.record.record_id for i in endpoint.handoff.items] == ["NZ-ESS-2021-0042", "NZ-ESS-2021-0043"]
    assert endpoint.trail(accepted[0]) == ["RECEIVED", "VALIDATED", "DELIVERED_DOMESTIC"]


def test_submissions_are_signed_when_the_partner_has_a_key_pair(
    endpoint_factory: EndpointFactory, partner_signers: dict[str, Signer]
) -> None:
    endpoint = endpoint_factory(agreements(nz={"soap_require_signature": True}))
    unsigned = start_partner(endpoint)
    signing = start_partner(endpoint, signer=partner_signers["nz"])
    try:
        assert unsigned.submit([nz_document()]) == []
        assert unsigned.counts()["error_codes"] == {"SIGNATURE_INVALID": 1}
        assert len(signing.submit([nz_document()])) == 1
    finally:
        unsigned.close()
        signing.close()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _post(url: str) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=10) as response:
        return json.loads(response.read())
