"""Helpers for the outbound SOAP tests (no tests here): the EU partner simulator on a free
loopback port and an outbound client pointed at it, keys from the session's temp dirs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.eu import format as eu_format
from exchange.signing import KeyPairFiles, Signer
from exchange.soap.wss_signature import Policy
from exchange.transports.soap_push.outbound import (
    CircuitBreaker,
    OutboundClient,
    OutboundSettings,
    ReceiptStore,
)
from exchange.transports.soap_push.simulator import PartnerEuApp, PartnerSimulator
from tests import canonical_samples as samples

DOCUMENT = eu_format.convert(samples.certificate())
"""A real EU document: what is signed is checked again against the EU schema as sent."""


class FakeClock:
    """Monotonic time the tests move by hand: breaker cool-downs without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Rig:
    sim: PartnerSimulator
    client: OutboundClient
    receipts: ReceiptStore
    clock: FakeClock

    def close(self) -> None:
        self.client.close()
        self.sim.stop()
        self.receipts.close()


def start_rig(
    tmp: Path,
    ours: KeyPairFiles,
    partner: KeyPairFiles,
    *,
    receipt_signer: KeyPairFiles | None = None,
    sender_cert: KeyPairFiles | None = None,
    threshold: int = 100,
    cooldown_s: float = 30.0,
    timeout_s: float = 5.0,
    slow_s: float = 5.0,
    app_hook: Callable[[PartnerEuApp], None] | None = None,
    wss_signature: Policy = Policy.OPTIONAL,
    require_wss: bool = False,
) -> Rig:
    """The partner signs receipts with `receipt_signer` (default its own pair) and checks our
    documents against `sender_cert` (default ours); the client trusts `partner`'s certificate."""
    signing = receipt_signer or partner
    app = PartnerEuApp(
        Signer.from_files(signing.key, signing.certificate),
        (sender_cert or ours).certificate.read_bytes(),
        slow_s=slow_s,
        reject_reason="EU-REG-7: the notified body number is unknown",
        require_wss=require_wss,
    )
    if app_hook is not None:
        app_hook(app)
    sim = PartnerSimulator(app)
    clock = FakeClock()
    receipts = ReceiptStore(f"sqlite:///{tmp / 'audit.db'}")
    settings = OutboundSettings(
        "eu", sim.url, partner.certificate.read_bytes(), timeout_s=timeout_s, wss_signature=wss_signature
    )
    client = OutboundClient(
        settings,
        Signer.from_files(ours.key, ours.certificate),
        receipts,
        breaker=CircuitBreaker(threshold, cooldown_s, clock=clock),
    )
    return Rig(sim, client, receipts, clock)
