"""A partner's receiving service, simulated over real HTTP for demos and tests, with
switchable faults: eu's own contract (schemas/soap/partner-eu-1.0.wsdl) by default, or any
other receiving-service contract (`contract`: the neutral partner-receive-1.0.wsdl that
`exchange simulate-partner no` implements, or an agreement's own WSDL).

It behaves like a careful partner: it checks our signature, and our WS-Security message
signature with zeep's own implementation (zeep.wsse.signature over python-xmlsec: not
ours) when the push carries one (`require_wss`: it must), answering a signed push with an
answer zeep's BinarySignature signs; it acknowledges each message id
once (a message id it already acknowledged gets the first receipt back and is counted as a
duplicate), and signs every receipt. The faults are the ways real partners fail, so the
outbound client can be shown to handle each: down, slow, HTTP 500, malformed XML, SOAP
Fault, reject with reason, invalid receipt signature, duplicate (replayed) receipt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from lxml import etree

from exchange.errors import DocumentError
from exchange.signing import SignatureInvalid, Signer, has_signature, verify_enveloped
from exchange.soap import ns, zeep_wss
from exchange.soap.contract import contract_path
from exchange.soap.envelope import Envelope, Sign, SoapVersion, parse_envelope, response
from exchange.soap.faults import FaultCode, SoapFault
from exchange.soap.server import RunningServer, serve
from exchange.transports.simulation import FaultSwitch, StartResponse
from exchange.transports.soap_push.receive_contract import ReceiveContract, read_contract
from exchange.xml.safe import Limits, hardened_parser, parse_bytes

EU = "urn:mra-exchange:eu:soap:1.0"
PATH = "/eu/receive"
WSDL_FILE = "partner-eu-1.0.wsdl"
_LIMITS = Limits(max_bytes=8 * 1024 * 1024)


def eu(name: str) -> str:
    return ns.q(EU, name)


class Fault(StrEnum):
    """What the simulated partner does with the next requests."""

    NONE = "none"
    """Answer normally: ACK (or REJECT when our signature does not verify)."""
    DOWN = "down"
    """Not listening: connections are refused."""
    SLOW = "slow"
    """Answer only after `slow_s` (the client's timeout should fire first); the message is
    still processed, so the retry is a duplicate the partner recognises."""
    HTTP_500 = "http-500"
    MALFORMED = "malformed"
    SOAP_FAULT = "soap-fault"
    REJECT = "reject"
    WARN = "warn"
    BAD_SIGNATURE = "bad-signature"
    """A receipt altered after signing: its signature does not verify."""
    DUPLICATE_RECEIPT = "duplicate-receipt"
    """Replay the last receipt issued (for another message) instead of a new one."""


@dataclass
class SimStats:
    requests: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    """Requests that carried a readable message id, per message id."""
    acknowledged: dict[str, int] = field(default_factory=dict)
    """Receipts with ACK or WARN issued per message id (the first time only: 0 or 1)."""
    rejected: int = 0
    duplicates: int = 0
    """A message id already acknowledged, sent again."""
    faults: dict[str, int] = field(default_factory=dict)
    wss_verified: int = 0
    """Pushes whose WS-Security signature zeep verified."""
    wss_refused: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "messages": len(self.deliveries),
            "deliveries": sum(self.deliveries.values()),
            "acknowledged": sum(self.acknowledged.values()),
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "faults": dict(self.faults),
            "wss_verified": self.wss_verified,
            "wss_refused": self.wss_refused,
        }


class PartnerEuApp:
    """The WSGI app; `set_fault` switches behaviour, for all requests or the next `times`."""

    def __init__(
        self,
        signer: Signer,
        sender_cert_pem: bytes | None = None,
        *,
        reject_reason: str = "simulated rejection",
        slow_s: float = 5.0,
        require_wss: bool = False,
        contract: ReceiveContract | None = None,
        path: str = PATH,
        name: str = "eu",
    ):
        self.contract = contract or read_contract(contract_path(WSDL_FILE))
        self.prefix = "eu" if contract is None else "pr"
        """The receiving service's WSDL and the namespace of its messages."""
        self.path = path
        self.name = name
        """The partner played: receipt ids start with it."""
        self.signer = signer
        self.sender_cert_pem = sender_cert_pem
        """Our certificate: when set, a document whose signature does not verify is rejected,
        and so is a push whose WS-Security signature does not verify."""
        self.require_wss = require_wss
        """Refuse a push without a WS-Security signature (SIGNATURE_INVALID fault)."""
        self._answer_signer = zeep_wss.ZeepSigner(signer.key_pem(), signer.cert_pem)
        self.reject_reason = reject_reason
        self.slow_s = slow_s
        self.stats = SimStats()
        self.public_url: str | None = None
        """The address the WSDL names (the simulator sets it once bound)."""
        self._switch = FaultSwitch(Fault.NONE, self.stats.faults)
        self._receipts: dict[str, bytes] = {}
        self._last_receipt: bytes | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.stalled = threading.Event()
        """Set once a SLOW request is being held: callers can tell the partner has it."""

    # -- control ------------------------------------------------------------------------

    @property
    def fault(self) -> Fault:
        return self._switch.current

    def set_fault(self, fault: Fault | str, times: int | None = None) -> None:
        """Every request from now on (`times` None), or the next `times`, then back to NONE."""
        self._switch.set(Fault(fault), times)

    def wake(self) -> None:
        """End any SLOW wait now (used when stopping)."""
        self._wake.set()

    def rearm(self) -> None:
        self._wake.clear()

    # -- WSGI ---------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if environ.get("PATH_INFO", "") != self.path:
            return _send(start_response, "404 Not Found", "text/plain", b"not found\n")
        if method == "GET" and environ.get("QUERY_STRING", "").lower() == "wsdl":
            return _send(start_response, "200 OK", "text/xml; charset=utf-8", self._wsdl(environ))
        if method != "POST":
            return _send(start_response, "405 Method Not Allowed", "text/plain", b"POST here\n")
        with self._lock:
            self.stats.requests += 1
        data = _read_body(environ, _LIMITS.max_bytes)
        fault = self._switch.take()
        if fault is Fault.SLOW:
            self.stalled.set()
            self._wake.wait(self.slow_s)
        if fault is Fault.HTTP_500:
            return _send(
                start_response, "500 Internal Server Error", "text/plain", b"Internal Server Error\n"
            )
        if fault is Fault.MALFORMED:
            return _send(start_response, "200 OK", "text/xml; charset=utf-8", b"<soap:Envelope><Body><Rec")
        if fault is Fault.SOAP_FAULT:
            return self._soap_fault(start_response, "UNAVAILABLE", "simulated: the service is unavailable")
        sign = None
        try:
            envelope = parse_envelope(data, _LIMITS)
            if zeep_wss.signed(envelope.header):
                sign = self._answer_signer.sign  # a signed push gets a signed answer
            self._check_wss(envelope)
            body = self._receive(envelope, fault, sign)
        except SoapFault as exc:
            return self._soap_fault(start_response, exc.code.value, exc.message, sign)
        return _send(start_response, "200 OK", SoapVersion.V11.content_type, body)

    def _check_wss(self, envelope: Envelope) -> None:
        if self.sender_cert_pem is None or not (self.require_wss or zeep_wss.signed(envelope.header)):
            return
        reason = zeep_wss.verify(envelope.payload.getroottree().getroot(), self.sender_cert_pem)
        if reason is not None:
            with self._lock:
                self.stats.wss_refused += 1
            raise SoapFault(FaultCode.SIGNATURE_INVALID, f"WS-Security: {reason}")
        with self._lock:
            self.stats.wss_verified += 1

    def _wsdl(self, environ: dict[str, Any]) -> bytes:
        tree = etree.parse(str(self.contract.wsdl), parser=hardened_parser())
        address = self.public_url or f"http://127.0.0.1:{environ.get('SERVER_PORT', '')}{self.path}"
        for el in tree.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
            el.set("location", address)
        return etree.tostring(tree, xml_declaration=True, encoding="utf-8")

    def _soap_fault(
        self, start_response: StartResponse, code: str, message: str, sign: Sign | None = None
    ) -> list[bytes]:
        env_ns = SoapVersion.V11.namespace
        fault = etree.Element(ns.q(env_ns, "Fault"), nsmap={"soap": env_ns})
        etree.SubElement(fault, "faultcode").text = "soap:Server"
        etree.SubElement(fault, "faultstring").text = message
        detail = etree.SubElement(
            etree.SubElement(fault, "detail"),
            self.contract.q("FaultDetail"),
            nsmap={self.prefix: self.contract.namespace},
        )
        etree.SubElement(detail, self.contract.q("Code")).text = code
        etree.SubElement(detail, self.contract.q("Message")).text = message
        return _send(
            start_response,
            "500 Internal Server Error",
            SoapVersion.V11.content_type,
            response(SoapVersion.V11, fault, sign=sign),
        )

    # -- the operation ------------------------------------------------------------------

    def _receive(self, envelope: Envelope, fault: Fault, sign: Sign | None) -> bytes:
        info = None if envelope.header is None else envelope.header.find(self.contract.q("MessageInfo"))
        mid = None if info is None else info.findtext(self.contract.q("MessageId"))
        conversation = None if info is None else info.findtext(self.contract.q("ConversationId"))
        if not mid or not conversation:
            raise SoapFault(FaultCode.MALFORMED, "no eu:MessageInfo header with MessageId and ConversationId")
        if envelope.payload.tag != self.contract.q("ReceiveDocument"):
            raise SoapFault(FaultCode.UNKNOWN_OPERATION, "only ReceiveDocument is served here")
        try:
            document = base64.b64decode(
                envelope.payload.findtext(self.contract.q("Document")) or "", validate=True
            )
        except (binascii.Error, ValueError):
            raise SoapFault(FaultCode.MALFORMED, "Document is not base64") from None
        with self._lock:
            self.stats.deliveries[mid] = self.stats.deliveries.get(mid, 0) + 1
            first = self._receipts.get(mid)
            if first is not None:
                self.stats.duplicates += 1
            last = self._last_receipt
        if fault is Fault.DUPLICATE_RECEIPT and last is not None:
            return self._wrap(last, sign)
        if first is not None:  # acknowledged before: the same receipt again, nothing processed twice
            return self._wrap(self._tamper(first) if fault is Fault.BAD_SIGNATURE else first, sign)
        status, reason = self._decide(document, fault)
        warnings = ["simulated warning"] if status == "WARN" else []
        receipt = self._receipt(mid, conversation, status, reason, warnings, document)
        with self._lock:
            if status == "REJECT":
                self.stats.rejected += 1
            else:
                self._receipts[mid] = receipt
                self.stats.acknowledged[mid] = self.stats.acknowledged.get(mid, 0) + 1
            self._last_receipt = receipt
        return self._wrap(self._tamper(receipt) if fault is Fault.BAD_SIGNATURE else receipt, sign)

    def _decide(self, document: bytes, fault: Fault) -> tuple[str, str | None]:
        try:
            root = parse_bytes(document, limits=_LIMITS)
        except DocumentError as exc:
            return "REJECT", f"the document is not readable: {exc.reason}"[:1000]
        if not has_signature(root):
            return "REJECT", "the document is not signed"
        if self.sender_cert_pem is not None:
            try:
                verify_enveloped(root, self.sender_cert_pem)
            except SignatureInvalid as exc:
                return "REJECT", str(exc)[:1000]
        if fault is Fault.REJECT:
            return "REJECT", self.reject_reason
        if fault is Fault.WARN:
            return "WARN", None
        return "ACK", None

    def _receipt(
        self, mid: str, conversation: str, status: str, reason: str | None, warnings: list[str], doc: bytes
    ) -> bytes:
        receipt = etree.Element(self.contract.q("Receipt"), nsmap={self.prefix: self.contract.namespace})
        etree.SubElement(receipt, self.contract.q("ReceiptId")).text = f"{self.name}-{uuid.uuid4()}"
        etree.SubElement(receipt, self.contract.q("RefToMessageId")).text = mid
        etree.SubElement(receipt, self.contract.q("ConversationId")).text = conversation
        etree.SubElement(receipt, self.contract.q("Status")).text = status
        if reason:
            etree.SubElement(receipt, self.contract.q("Reason")).text = reason
        for warning in warnings:
            etree.SubElement(receipt, self.contract.q("Warning")).text = warning
        etree.SubElement(receipt, self.contract.q("DocumentDigest")).text = hashlib.sha256(doc).hexdigest()
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        etree.SubElement(receipt, self.contract.q("ReceivedAt")).text = now
        receipt_id = receipt.findtext(self.contract.q("ReceiptId")) or ""
        return etree.tostring(self.signer.sign(receipt, id_value=f"receipt-{receipt_id}"))

    def _tamper(self, receipt: bytes) -> bytes:
        """The receipt with its ReceivedAt changed after signing: the digest no longer matches."""
        root = parse_bytes(receipt)
        el = root.find(self.contract.q("ReceivedAt"))
        assert el is not None
        el.text = "2000-01-01T00:00:00.000Z"
        return etree.tostring(root)

    def _wrap(self, receipt: bytes, sign: Sign | None) -> bytes:
        out = etree.Element(
            self.contract.q("ReceiveDocumentResponse"), nsmap={self.prefix: self.contract.namespace}
        )
        out.append(parse_bytes(receipt))
        return response(SoapVersion.V11, out, sign=sign)


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    data: bytes = stream.read(min(length, limit + 1)) if length else stream.read(limit + 1)
    return data


def _send(start_response: StartResponse, status: str, content_type: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class PartnerSimulator:
    """The app on a real port. DOWN closes the listening socket (connections are refused);
    any other fault listens again on the same port. Another process may have taken the
    port meanwhile: coming back up retries for `rebind_s`, then raises OSError."""

    def __init__(self, app: PartnerEuApp, host: str = "127.0.0.1", port: int = 0, *, rebind_s: float = 3.0):
        self.app = app
        self.host = host
        self.rebind_s = rebind_s
        self._server: RunningServer | None = None
        if app.fault is Fault.DOWN:  # a partner down from the start: nothing listens
            self.port = port
        else:
            self._server = serve(app, host, port, threads=8)
            self.port = self._server.port
        app.public_url = self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.app.path}"

    @property
    def stats(self) -> SimStats:
        return self.app.stats

    @property
    def listening(self) -> bool:
        return self._server is not None

    def set_fault(self, fault: Fault | str, times: int | None = None) -> None:
        fault = Fault(fault)
        self.app.set_fault(fault, times)
        if fault is Fault.DOWN and self._server is not None:
            self.app.wake()
            self._server.stop()
            self._server = None
        elif fault is not Fault.DOWN and self._server is None:
            self.app.rearm()
            self._server = self._listen()
            self.port = self._server.port

    def _listen(self) -> RunningServer:
        deadline = time.monotonic() + self.rebind_s
        while True:
            try:
                return serve(self.app, self.host, self.port, threads=8)
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.app.wake()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def wait(self) -> None:
        if self._server is not None:
            self._server.wait()

    def __enter__(self) -> PartnerSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
