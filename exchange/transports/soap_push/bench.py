"""`exchange bench soap`: the SOAP transport beside bare HTTP, both measured in the same run.

WS-Security message signatures are on in both (the agreements say "required"):

- submit: `SubmitDocument` round trips per second with zeep as the NZ partner's client over
  loopback HTTP against our endpoint (UsernameToken and zeep's BinarySignature over Body
  and Timestamp, verified by us; schema checks, reverse mapping, audit, signed receipt in
  an answer we sign, verified by zeep), and as the baseline the same envelopes (as zeep
  would build them, a fresh nonce, timestamp, signature and message id each, made before
  the clock runs) posted bare with http.client on one keep-alive connection to the same
  server. The server does the same work for both: the ratio is what the zeep client costs
  on top of a round trip (signing and verifying included).
- deliver: deliveries per second of our outbound client (exchange/soap/outbound.py, as the
  delivery worker runs it: sign the document and the message, zeep, verify the answer's
  message signature and the partner's signed receipt, store it) to the EU partner
  simulator (which verifies our message signature with zeep and signs its answers), and as
  the baseline bare posts of the same signed envelopes (one message id each, signed before
  the clock runs) to the same simulator, answers not checked.

Everything is set up here and removed afterwards: key pairs, agreements with throw-away
credentials, an audit database (unless --audit names one), the endpoint and the simulator
on free loopback ports. Requests go one at a time; the legs alternate in rounds so that a
database growing under both is shared fairly. Domestic handoff goes to memory (no broker).
"""

from __future__ import annotations

import http.client
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from exchange.config import ExchangeConfig
from exchange.intake import CanonicalRecord
from exchange.model import ProductCertificate
from exchange.registry import partner_format
from exchange.registry import source as load_source
from exchange.service.bench import sample_certificate
from exchange.signing import generate_key_pair
from exchange.soap.loopback import SECRETS, USERNAMES, Endpoint, agreements, start_endpoint
from exchange.soap.zeep_wss import ZeepPartnerSecurity
from exchange.transports.sim_cli import partner_signer
from exchange.transports.soap_push.outbound import OutboundClient, Outcome, build_client
from exchange.transports.soap_push.simulator import PartnerEuApp, PartnerSimulator

CONTENT_TYPE = "text/xml; charset=utf-8"
WARMUP = 20


@dataclass
class Leg:
    requests: int = 0
    answered: int = 0
    seconds: float = 0.0

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "answered": self.answered, "seconds": round(self.seconds, 3)}


class BarePoster:
    """The baseline client: one keep-alive connection, a whole response read per request."""

    def __init__(self, url: str, soap_action: str):
        parts = urlsplit(url)
        self.path = parts.path
        self.address = (parts.hostname or "127.0.0.1", parts.port)
        self.conn = http.client.HTTPConnection(*self.address, timeout=30)
        self.headers = {"Content-Type": CONTENT_TYPE, "SOAPAction": f'"{soap_action}"'}

    def reconnect(self) -> None:
        """A fresh connection for the next leg: the server drops one left idle (its socket
        timeout) while the other leg runs, which a slow, signing leg can outlast."""
        self.conn.close()
        self.conn = http.client.HTTPConnection(*self.address, timeout=30)

    def post(self, body: bytes, expect: bytes) -> bool:
        """True when the server answered 200 with `expect` in the body."""
        self.conn.request("POST", self.path, body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status == 200 and expect in data

    def close(self) -> None:
        self.conn.close()


def _chunks(count: int, rounds: int) -> Iterator[range]:
    size = -(-count // max(1, rounds))
    for start in range(0, count, size):
        yield range(start, min(count, start + size))


def _compare(
    key: str,
    count: int,
    rounds: int,
    ours: Callable[[int], bool],
    envelope: Callable[[int], bytes],
    poster: BarePoster,
    expect: bytes,
) -> dict[str, Any]:
    """`ours(i)` (True when answered as it should be) beside bare posts of `envelope(i)`,
    `count` requests each after a warm-up, in `rounds` whose first leg alternates. Each
    round's envelopes are built before its clock runs (fresh WS-Security timestamps)."""
    envelopes: dict[int, bytes] = {}

    def prepare(ids: range) -> None:
        envelopes.clear()
        envelopes.update((i, envelope(i)) for i in ids)

    def bare(i: int) -> bool:
        return poster.post(envelopes[i], expect)

    measured, baseline = Leg(), Leg()
    try:
        warm = range(-WARMUP, 0)
        prepare(warm)
        warmed = sum(map(ours, warm))
        poster.reconnect()
        warmed += sum(map(bare, warm))
        for n, ids in enumerate(_chunks(count, rounds)):
            prepare(ids)
            legs = [(measured, ours), (baseline, bare)]
            for leg, call in legs if n % 2 == 0 else legs[::-1]:
                if leg is baseline:
                    poster.reconnect()
                start = time.perf_counter()
                answered = sum(1 for i in ids if call(i))
                leg.seconds += time.perf_counter() - start
                leg.requests += len(ids)
                leg.answered += answered
    finally:
        poster.close()
    return {
        f"{key}_per_s": round(measured.per_s, 1),
        f"{key}_baseline_per_s": round(baseline.per_s, 1),
        f"{key}_ratio": round(measured.per_s / baseline.per_s, 3) if baseline.per_s else None,
        key: measured.as_dict(),
        f"{key}_baseline": baseline.as_dict(),
        f"{key}_warmup_answered": warmed,
        f"{key}_envelope_bytes": len(envelope(0)),
    }


def eess_record(config: ExchangeConfig) -> CanonicalRecord:
    """The shipped sample certificate as NZ would submit it: an EESS record of its own."""
    record = load_source(config).parse_message(_sample_bytes())
    data = record.model_dump(by_alias=True)
    data.update(scheme="EESS", certNo="NZ-ESS-2021-0042")
    return ProductCertificate.model_validate(data)


def _sample_bytes() -> bytes:
    return json.dumps(sample_certificate(), ensure_ascii=False).encode("utf-8")


def _soap_action(service: Any, operation: str) -> str:
    return str(service._binding._operations[operation].soapaction or "")


def bench_submit(
    endpoint: Endpoint, count: int, run: str, *, rounds: int = 4, wsse: Any = None
) -> dict[str, Any]:
    """SubmitDocument with zeep vs the same envelopes posted bare (see the module doc)."""
    document = partner_format(endpoint.config.partners["nz"]).convert(eess_record(endpoint.config))
    service = endpoint.service("nz", plugins=[], wsse=wsse)

    def submit(i: int) -> bool:
        receipt = service.SubmitDocument(MessageId=f"{run}-zeep-{i}", Document=document)
        return bool(receipt.Status == "DELIVERED_DOMESTIC")

    def envelope(i: int) -> bytes:
        message = service._client.create_message(
            service, "SubmitDocument", MessageId=f"{run}-bare-{i}", Document=document
        )
        return bytes(etree.tostring(message))

    poster = BarePoster(endpoint.url, _soap_action(service, "SubmitDocument"))
    report = _compare("submit", count, rounds, submit, envelope, poster, b"DELIVERED_DOMESTIC")
    return {**report, "submit_document_bytes": len(document)}


def bench_deliver(
    client: OutboundClient, sim: PartnerSimulator, document: bytes, count: int, run: str, *, rounds: int = 4
) -> dict[str, Any]:
    """OutboundClient.send vs bare posts of the same signed envelope (see the module doc)."""
    signed = client.sign(document)
    conversation = f"{run}-deliver"

    def deliver(i: int) -> bool:
        result = client.send(document, message_id=f"{run}-zeep-{i}", conversation_id=conversation)
        return result.outcome is Outcome.ACKNOWLEDGED

    def envelope(i: int) -> bytes:
        header = {
            "MessageId": f"{run}-bare-{i}",
            "ConversationId": conversation,
            "Timestamp": datetime.now(UTC),
        }
        message = client.client.create_message(
            client.service, "ReceiveDocument", Document=signed, _soapheaders={"header": header}
        )
        return bytes(etree.tostring(message))

    poster = BarePoster(sim.url, _soap_action(client.service, "ReceiveDocument"))
    report = _compare("deliver", count, rounds, deliver, envelope, poster, b"Receipt>")
    stats = sim.stats.as_dict()
    keys = ("messages", "acknowledged", "rejected", "duplicates", "wss_verified", "wss_refused")
    partner = {k: stats[k] for k in keys}
    return {**report, "deliver_document_bytes": len(signed), "partner": partner}


def bench_soap(count: int = 2000, audit_url: str | None = None, *, rounds: int = 4) -> dict[str, Any]:
    """Both benchmarks on loopback; everything they need is made here and removed after."""
    if count < 1:
        raise ValueError("the count must be at least 1")
    run = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="mra-bench-soap-") as tmp:
        root = Path(tmp)
        ours = generate_key_pair(root / "ours", common_name="mra-exchange bench")
        sim_signer = partner_signer(root / "eu-partner")
        sim = PartnerSimulator(PartnerEuApp(sim_signer, ours.certificate.read_bytes(), require_wss=True))
        endpoint: Endpoint | None = None
        client: OutboundClient | None = None
        try:
            outbound = {"soap_outbound_url": sim.url, "soap_signing_key": str(ours.key),
                        "soap_signing_cert": str(ours.certificate),
                        "soap_wss_signature": "required"}  # fmt: skip
            # The EU simulator signs receipts with it; the agreements name it for both partners.
            partner_cert = sim_signer.cert_pem
            endpoint = start_endpoint(
                root / "endpoint",
                ours,
                certificates={"eu": partner_cert, "nz": partner_cert},
                agreements_text=agreements(eu=outbound, nz={"soap_wss_signature": "required"}),
                audit_url=audit_url or f"sqlite:///{root / 'audit.db'}",
            )
            eu = endpoint.config.partners["eu"]
            client = build_client(eu, folder=endpoint.folder, audit_url=endpoint.audit_url)
            eu_document = partner_format(eu).convert(
                load_source(endpoint.config).parse_message(_sample_bytes())
            )
            # NZ signs with the same pair as the simulator: the agreements name its certificate.
            nz_wsse = ZeepPartnerSecurity(
                USERNAMES["nz"], SECRETS["nz"], sim_signer.key_pem(), sim_signer.cert_pem, endpoint.our_cert
            )
            report: dict[str, Any] = {"bench": "soap", "count": count, "rounds": rounds, "ws_security": True}
            report.update(bench_submit(endpoint, count, run, rounds=rounds, wsse=nz_wsse))
            report.update(bench_deliver(client, sim, eu_document, count, run, rounds=rounds))
            report["audit"] = "temporary SQLite file" if audit_url is None else "as given"
            return report
        finally:
            if client is not None:
                client.close()
                client.receipts.close()
            if endpoint is not None:
                endpoint.close()
            sim.stop()
