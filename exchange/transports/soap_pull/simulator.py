"""The NZ partner's side, simulated for demos and tests: NZ pulls its documents from our
endpoint (its agreement says delivery = "pull"), so the simulator is a client, zeep with
WS-Security, that loops ListPending -> PullDocument -> AcknowledgeDocument against
/soap/v1 and can submit its own EESS records (SubmitDocument).

It behaves like a careful partner: every pulled document is checked (its digest, the NZ
XSD as pulled, signature in place, and our signature when our certificate is known) and acknowledged
OK, or FAILED naming what is wrong. The faults are the ways a pulling partner fails, so
our pull outbox can be shown to keep every document: it stays DOWNLOADED, listed and
pullable, until a verdict comes. A small HTTP page (`ControlApp`) shows the counts
(GET /stats) and switches the fault (POST /fault?set=NAME).
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

import requests
import structlog
import zeep
import zeep.exceptions
import zeep.wsse.username
from lxml import etree

from exchange.errors import DocumentError
from exchange.partner import PartnerFormat
from exchange.signing import SignatureInvalid, Signer, has_signature, verify_enveloped
from exchange.soap import ns
from exchange.soap.contract import BINDINGS, client_document
from exchange.soap.server import RunningServer, serve
from exchange.transports.simulation import FaultSwitch, StartResponse
from exchange.xml.safe import parse_bytes

log = structlog.get_logger("exchange.soap.partner_nz")

MALFORMED_BODY = b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ListPe'
_TEXT_MAX = 1000
"""Reason and Warning are mra:Text: at most 1000 characters."""


class PullFault(StrEnum):
    """What the simulated pulling partner does with the next rounds."""

    NONE = "none"
    """List, pull, check, acknowledge: OK, or FAILED naming what is wrong."""
    DOWN = "down"
    """Does not call at all: documents wait PENDING."""
    SLOW = "slow"
    """Takes `slow_s` between pulling a document and acknowledging it (DOWNLOADED meanwhile)."""
    ACK_FAILED = "ack-failed"
    """Acknowledges FAILED with `reject_reason`."""
    ACK_WARN = "ack-warn"
    """Acknowledges with a warning."""
    NO_ACK = "no-ack"
    """Pulls but never acknowledges: the document stays DOWNLOADED, listed and pulled again."""
    DUPLICATE_ACK = "duplicate-ack"
    """Acknowledges every document twice (the second changes nothing)."""
    MALFORMED = "malformed"
    """Sends a request that is not well-formed XML instead of ListPending."""
    WRONG_CREDENTIALS = "wrong-credentials"
    """Calls with the wrong secret."""


@dataclass
class PullStats:
    polls: int = 0
    listed: int = 0
    """Documents seen in ListPending answers (the same one again in a later round counts again)."""
    pulled: dict[str, int] = field(default_factory=dict)
    """PullDocument answers per message id."""
    verdicts: dict[str, str] = field(default_factory=dict)
    """The outcome first acknowledged (and answered) per message id: OK, WARNINGS, FAILED."""
    duplicate_acks: int = 0
    """Acknowledgements sent again for a document already acknowledged."""
    invalid: int = 0
    """Pulled documents that failed the checks (acknowledged FAILED with the reason)."""
    submitted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    """Calls that got no answer, by fault code (NOT_AUTHENTICATED, MALFORMED...) or transport."""
    faults: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        outcomes = list(self.verdicts.values())
        return {
            "polls": self.polls,
            "listed": self.listed,
            "pulled": sum(self.pulled.values()),
            "documents": len(self.pulled),
            "acknowledged": {
                "ok": outcomes.count("OK"),
                "warn": outcomes.count("WARNINGS"),
                "failed": outcomes.count("FAILED"),
            },
            "duplicate_acks": self.duplicate_acks,
            "invalid": self.invalid,
            "submitted": self.submitted,
            "errors": sum(self.errors.values()),
            "error_codes": dict(self.errors),
            "faults": dict(self.faults),
        }


@dataclass(frozen=True, slots=True)
class Poll:
    listed: int
    settled: int
    """Documents acknowledged (first time) in this round."""
    more: bool
    """More documents waited beyond the page."""


class PullPartner:
    """The pulling partner: `poll_once()` is one round, `run()` loops until `stop()`."""

    def __init__(
        self,
        endpoint_url: str,
        username: str,
        secret: str,
        fmt: PartnerFormat,
        *,
        our_cert: bytes | None = None,
        signer: Signer | None = None,
        reject_reason: str = "simulated: the document is refused",
        slow_s: float = 5.0,
        page: int = 100,
        timeout_s: float = 30.0,
    ):
        self.endpoint_url = endpoint_url
        self.format = fmt
        self.our_cert = our_cert
        """Our certificate: when set, every document must carry our signature and verify."""
        self.signer = signer
        """The partner's pair: when set, submitted documents are signed with it."""
        self.reject_reason = reject_reason[:_TEXT_MAX]
        self.slow_s = slow_s
        self.page = page
        self.timeout_s = timeout_s
        self.stats = PullStats()
        self.switch = FaultSwitch(PullFault.NONE, self.stats.faults)
        self.session = requests.Session()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        document = client_document()
        self.service = self._service(document, username, secret)
        self.impostor = self._service(document, username, f"not-{secret}")

    def _service(self, document: Any, username: str, secret: str) -> Any:
        z: Any = zeep  # untyped library
        transport = z.Transport(
            session=self.session, timeout=self.timeout_s, operation_timeout=self.timeout_s
        )
        token = z.wsse.username.UsernameToken(username, secret, use_digest=True)
        client = z.Client(document, wsse=token, transport=transport)
        return client.create_service(BINDINGS["1.1"], self.endpoint_url)

    # -- control ------------------------------------------------------------------------

    @property
    def fault(self) -> PullFault:
        return self.switch.current

    def set_fault(self, fault: PullFault | str, times: int | None = None) -> None:
        self.switch.set(PullFault(fault), times)

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return self.stats.as_dict()

    def stop(self) -> None:
        self._stop.set()

    # -- the rounds ---------------------------------------------------------------------

    def run(self, interval_s: float = 1.0) -> None:
        """Poll until `stop()`: at once again while a full page was settled, else after
        `interval_s` (so a partner that never acknowledges does not spin)."""
        while not self._stop.is_set():
            try:
                poll = self.poll_once()
            except Exception as exc:  # a simulator must keep playing
                log.exception("poll failed")
                self._error(f"client: {type(exc).__name__}")
                poll = Poll(0, 0, False)
            if not (poll.more and poll.settled):
                self._stop.wait(interval_s)

    def poll_once(self) -> Poll:
        """One round: list a page, then pull, check and acknowledge each document listed.
        The fault is taken once for the round and once more for each further document."""
        fault = self.switch.take()
        with self._lock:
            self.stats.polls += 1
        if fault is PullFault.DOWN:
            return Poll(0, 0, False)
        if fault is PullFault.MALFORMED:
            self._malformed()
            return Poll(0, 0, False)
        service = self.impostor if fault is PullFault.WRONG_CREDENTIALS else self.service
        listed = self._call(service.ListPending, MaxResults=self.page)
        if listed is None:
            return Poll(0, 0, False)
        items = list(listed.PendingDocument or [])
        with self._lock:
            self.stats.listed += len(items)
        settled = 0
        for n, item in enumerate(items):
            if self._stop.is_set():
                break
            settled += self._handle(str(item.MessageId), fault if n == 0 else self.switch.take())
        return Poll(len(items), settled, bool(listed.More))

    def _handle(self, mid: str, fault: PullFault) -> int:
        """Pull, check, acknowledge one document; 1 when it got its first verdict now."""
        pulled = self._call(self.service.PullDocument, MessageId=mid)
        if pulled is None:
            return 0
        with self._lock:
            self.stats.pulled[mid] = self.stats.pulled.get(mid, 0) + 1
        problem = self.check(pulled.Document, str(pulled.DocumentSha256))
        if problem is not None:
            with self._lock:
                self.stats.invalid += 1
        if fault is PullFault.NO_ACK:
            return 0
        if fault is PullFault.SLOW:
            self._stop.wait(self.slow_s)
        verdict: dict[str, Any] = {"Outcome": "OK"}
        if problem is not None:
            verdict = {"Outcome": "FAILED", "Reason": problem[:_TEXT_MAX]}
        elif fault is PullFault.ACK_FAILED:
            verdict = {"Outcome": "FAILED", "Reason": self.reject_reason}
        elif fault is PullFault.ACK_WARN:
            verdict = {"Outcome": "WARNINGS", "Warning": ["simulated: the HS code is not in the NZ tariff"]}
        first = 0
        for _ in range(2 if fault is PullFault.DUPLICATE_ACK else 1):
            if self._call(self.service.AcknowledgeDocument, MessageId=mid, **verdict) is None:
                break
            with self._lock:
                if mid in self.stats.verdicts:
                    self.stats.duplicate_acks += 1
                else:
                    self.stats.verdicts[mid] = verdict["Outcome"]
                    first = 1
        return first

    def check(self, document: bytes, sha256: str) -> str | None:
        """What is wrong with a pulled document (None: nothing): its digest, our signature,
        the NZ schema."""
        if hashlib.sha256(document).hexdigest() != sha256:
            return "the document does not match its DocumentSha256"
        try:
            self.format.check_bytes(document)  # as pulled, signature in place
            root = parse_bytes(document)
            if self.our_cert is not None:
                if not has_signature(root):
                    return "the document is not signed"
                verify_enveloped(root, self.our_cert)
        except DocumentError as exc:
            return f"not a valid NZ document: {exc}"
        except SignatureInvalid as exc:
            return str(exc)
        return None

    def submit(self, documents: Iterable[bytes]) -> list[str]:
        """Submit NZ records (SubmitDocument), signed when the partner has a key pair; our
        message ids of those accepted."""
        accepted = []
        for document in documents:
            data = document
            mid = f"nz-sim-{uuid.uuid4()}"
            if self.signer is not None:
                signed = self.signer.sign(parse_bytes(document), id_value=f"doc-{mid}")
                data = etree.tostring(signed, xml_declaration=True, encoding="utf-8")
            receipt = self._call(self.service.SubmitDocument, MessageId=mid, Document=data)
            if receipt is not None:
                accepted.append(str(receipt.MessageId))
                with self._lock:
                    self.stats.submitted += 1
        return accepted

    # -- calls --------------------------------------------------------------------------

    def _call(self, operation: Any, **params: Any) -> Any:
        """The answer, or None with the failure counted (a fault by its code)."""
        try:
            return operation(**params)
        except zeep.exceptions.Fault as exc:
            detail = exc.detail
            code = None if detail is None else detail.findtext(f".//{ns.mra('Code')}")
            self._error(code or "SOAP fault")
        except zeep.exceptions.TransportError as exc:
            self._error(f"HTTP {exc.status_code}")
        except requests.RequestException as exc:
            self._error(f"unreachable: {type(exc).__name__}")
        except zeep.exceptions.Error as exc:
            self._error(f"malformed answer: {type(exc).__name__}")
        return None

    def _malformed(self) -> None:
        try:
            response = self.session.post(
                self.endpoint_url,
                data=MALFORMED_BODY,
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            self._error(f"unreachable: {type(exc).__name__}")
            return
        try:
            code = parse_bytes(response.content).findtext(f".//{ns.mra('Code')}")
        except DocumentError:
            code = None
        self._error(code or f"HTTP {response.status_code}")

    def _error(self, what: str) -> None:
        with self._lock:
            self.stats.errors[what] = self.stats.errors.get(what, 0) + 1

    def close(self) -> None:
        self.session.close()


# -- the control page ---------------------------------------------------------------------------


class ControlApp:
    """GET /stats (JSON counts), GET /fault, POST /fault?set=NAME (or a form field `fault`),
    GET / (a page with the counts and a button per fault)."""

    def __init__(self, partner: PullPartner):
        self.partner = partner

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/stats" and method == "GET":
            return _json(
                start_response, "200 OK", {**self.partner.counts(), "fault": self.partner.fault.value}
            )
        if path == "/fault" and method == "GET":
            return _json(start_response, "200 OK", self._faults())
        if path == "/fault" and method == "POST":
            return self._switch(environ, start_response)
        if path == "/" and method == "GET":
            return _send(start_response, "200 OK", "text/html; charset=utf-8", self._page())
        return _send(start_response, "404 Not Found", "text/plain", b"not found\n")

    def _faults(self) -> dict[str, Any]:
        return {"fault": self.partner.fault.value, "faults": [f.value for f in PullFault]}

    def _switch(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        declared = environ.get("CONTENT_LENGTH") or ""
        length = min(int(declared), 1024) if declared.isdigit() else 0  # a form with one field
        form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
        name = (query.get("set") or form.get("fault") or [""])[0]
        try:
            fault = PullFault(name)
        except ValueError:
            return _json(
                start_response, "400 Bad Request", {"error": f"unknown fault {name!r}", **self._faults()}
            )
        self.partner.set_fault(fault)
        log.info("fault switched", fault=fault.value)
        if form.get("fault"):  # the page's buttons: back to the page
            start_response("303 See Other", [("Location", "/"), ("Content-Length", "0")])
            return []
        return _json(start_response, "200 OK", self._faults())

    def _page(self) -> bytes:
        counts = self.partner.counts()
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(json.dumps(v))}</td></tr>"
            for k, v in counts.items()
        )
        current = self.partner.fault.value
        buttons = " ".join(
            f'<button name="fault" value="{f.value}"{" disabled" * (f.value == current)}>{f.value}</button>'
            for f in PullFault
        )
        endpoint = html.escape(self.partner.endpoint_url)
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            "<title>NZ partner simulator</title></head><body>"
            f"<h1>NZ partner simulator</h1><p>pulling from {endpoint}; fault <b>{current}</b></p>"
            f"<form method='post' action='/fault'>{buttons}</form><table>{rows}</table>"
            "<p><a href='/stats'>/stats</a> (JSON)</p></body></html>"
        ).encode()


def _json(start_response: StartResponse, status: str, data: dict[str, Any]) -> list[bytes]:
    return _send(start_response, status, "application/json", json.dumps(data).encode() + b"\n")


def _send(start_response: StartResponse, status: str, content_type: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class PullSimulator:
    """The pulling partner looping in a thread, its control page on a real port."""

    def __init__(
        self, partner: PullPartner, host: str = "127.0.0.1", port: int = 0, *, interval_s: float = 1.0
    ):
        self.partner = partner
        self.host = host
        try:
            self._server: RunningServer = serve(ControlApp(partner), host, port, threads=2)
        except OSError:
            partner.close()
            raise
        self.port = self._server.port
        self._thread = threading.Thread(
            target=partner.run, args=(interval_s,), name="nz-partner-sim", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def stats(self) -> PullStats:
        return self.partner.stats

    def stop(self) -> None:
        self.partner.stop()
        self._thread.join(self.partner.timeout_s + self.partner.slow_s + 5)
        self._server.stop()
        self.partner.close()

    def __enter__(self) -> PullSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
