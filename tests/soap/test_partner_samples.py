"""The README's reverse direction for NZ: `exchange simulate-partner nz --publish` with the
shipped EESS samples, submitted to our SOAP endpoint: validated, handed to domestic systems."""

from __future__ import annotations

from pathlib import Path

from exchange.transports.sim_cli import simulate_partner_soap
from tests.soap.support import Endpoint

ROOT = Path(__file__).resolve().parents[2]
EESS = sorted((ROOT / "samples" / "partners" / "nz").glob("eess-*.xml"))


def test_eess_samples_are_submitted_and_handed_over(endpoint: Endpoint) -> None:
    assert EESS, "samples/partners/nz/ has no EESS record"
    code = simulate_partner_soap("nz", port=0, endpoint=endpoint.url, config=endpoint.config, publish=EESS)
    assert code == 0
    handed = [i.record for i in endpoint.handoff.items]  # type: ignore[attr-defined]
    assert [r.record_id for r in handed] == [p.stem.removeprefix("eess-") for p in EESS]
    assert {str(r.scheme) for r in handed} == {"EESS"}  # type: ignore[union-attr]
    for item in endpoint.handoff.items:  # type: ignore[attr-defined]
        assert endpoint.trail(item.message_id) == ["RECEIVED", "VALIDATED", "DELIVERED_DOMESTIC"]
