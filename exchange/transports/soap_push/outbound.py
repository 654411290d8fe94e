"""Outbound SOAP delivery: one signed document to a push partner, one verified receipt back.

zeep speaks the partner's WSDL (strict, with timeouts): the one its agreement chooses, by
default the neutral partner-receive-1.0.wsdl (exchange/transports/soap_push/receive_contract.py). Every
document leaves with our enveloped XML Signature, and the message with a WS-Security
signature over Body and Timestamp unless the agreement's soap_wss_signature is "off" (the
partner's answer is then verified when it is signed, and must be when the option says
"required"); the partner's receipt counts only once its signature verifies against the
certificate its agreement names, it names our message and the digest of what we sent; it
is then stored (non-repudiation) before the outcome is returned. A circuit breaker per
partner stops hammering a partner that keeps failing: after N consecutive failures calls
are refused until a cool-down has passed, then one trial call decides.

`OutboundClient.send` is blocking and thread-safe: the delivery worker runs it in a pool.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests
import structlog
import zeep
import zeep.exceptions
from lxml import etree

from exchange.audit.entry import format_time
from exchange.audit.url import PostgresTarget, SqliteTarget, parse_audit_url, resolve_audit_url
from exchange.config import Agreement
from exchange.errors import ConfigError, DocumentError, ExchangeError
from exchange.registry import partner_format
from exchange.signing import SignatureInvalid, Signer, load_certificate, sign_document, verify_enveloped
from exchange.soap import ns
from exchange.soap.wss_signature import (
    MessageSignatureError,
    Policy,
    WssSigner,
    WssVerifier,
    carries_signature,
)
from exchange.transports.soap_push.receive_contract import (
    ReceiveContract,
    contract_of,
    default_wsdl,
    read_contract,
)
from exchange.xml.safe import Limits, parse_bytes

log = structlog.get_logger("exchange.soap.outbound")

_RESPONSE_LIMITS = Limits(max_bytes=4 * 1024 * 1024)


class Outcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    WARNED = "warned"
    REJECTED = "rejected"
    FAILED = "failed"
    """No usable receipt: unreachable, timeout, HTTP error, malformed, fault, bad signature."""
    CIRCUIT_OPEN = "circuit-open"
    """Not attempted: the partner's circuit is open."""


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    receipt_id: str | None = None
    answered: bool = False
    """The partner's answer arrived (a receipt, verified or not): the document reached it."""

    @property
    def delivered(self) -> bool:
        return self.outcome in (Outcome.ACKNOWLEDGED, Outcome.WARNED)


# -- circuit breaker -------------------------------------------------------------------------


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """closed → open after `threshold` consecutive failures → half-open once `cooldown_s`
    has passed, which lets one trial call through: success closes, failure reopens."""

    def __init__(
        self, threshold: int = 5, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ):
        if threshold < 1:
            raise ConfigError("the circuit breaker threshold must be at least 1")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> CircuitState:
        with self._lock:
            if self._state is CircuitState.OPEN and self.clock() >= self._opened_at + self.cooldown_s:
                return CircuitState.HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """May a call go now? In half-open, only one (the trial) until it reports back."""
        with self._lock:
            if self._state is CircuitState.OPEN:
                if self.clock() < self._opened_at + self.cooldown_s:
                    return False
                self._state = CircuitState.HALF_OPEN
                self._trial = False
            if self._state is CircuitState.HALF_OPEN:
                if self._trial:
                    return False
                self._trial = True
            return True

    def success(self) -> None:
        with self._lock:
            self._state, self._failures, self._trial = CircuitState.CLOSED, 0, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is CircuitState.HALF_OPEN or self._failures >= self.threshold:
                if self._state is not CircuitState.OPEN:
                    log.warning("circuit opened", failures=self._failures)
                self._state, self._opened_at, self._trial = CircuitState.OPEN, self.clock(), False


# -- receipts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    partner: str
    receipt_id: str
    message_id: str
    status: str
    receipt: bytes
    stored_at: str


class ReceiptStore:
    """Verified, signed receipts as the partner sent them (bytes of the Receipt element), in
    the audit database: evidence that the partner received exactly what we sent."""

    def __init__(self, url: str | None = None):
        target = parse_audit_url(resolve_audit_url(url))
        self._lock = threading.Lock()
        self._conn: Any
        if isinstance(target, SqliteTarget):
            path = str(target.path) if target.path else ":memory:"
            self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._ph, self._table, blob = "?", "soap_receipts", "BLOB"
        else:
            assert isinstance(target, PostgresTarget)
            import psycopg

            self._conn = psycopg.connect(target.conninfo, autocommit=True)
            self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {target.schema}")
            self._ph, self._table, blob = "%s", f"{target.schema}.soap_receipts", "BYTEA"
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} ("
            " partner TEXT NOT NULL, receipt_id TEXT NOT NULL, message_id TEXT NOT NULL,"
            f" status TEXT NOT NULL, receipt {blob} NOT NULL, stored_at TEXT NOT NULL,"
            " PRIMARY KEY (partner, receipt_id))"
        )

    def put(self, partner: str, receipt_id: str, message_id: str, status: str, receipt: bytes) -> bool:
        """True when stored now, False when this receipt was stored before (a replay)."""
        p = self._ph
        with self._lock:
            cur = self._conn.execute(
                f"INSERT INTO {self._table} (partner, receipt_id, message_id, status, receipt, stored_at)"
                f" VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING",
                (partner, receipt_id, message_id, status, receipt, format_time(datetime.now(UTC))),
            )
            return bool(cur.rowcount)

    def for_message(self, partner: str, message_id: str) -> list[StoredReceipt]:
        p = self._ph
        with self._lock:
            rows = self._conn.execute(
                f"SELECT partner, receipt_id, message_id, status, receipt, stored_at FROM {self._table}"
                f" WHERE partner = {p} AND message_id = {p} ORDER BY stored_at",
                (partner, message_id),
            ).fetchall()
        return [StoredReceipt(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# -- the client ------------------------------------------------------------------------------


class _ResponseRecorder:
    """Keeps the raw bytes of the last response per thread (a requests hook): the receipt's
    signature is checked on what the partner sent, parsed by our hardened parser."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.content = response.content

    def reset(self) -> None:
        self._local.content = None

    @property
    def content(self) -> bytes | None:
        content: bytes | None = getattr(self._local, "content", None)
        return content


@dataclass(frozen=True, slots=True)
class OutboundSettings:
    partner: str
    url: str
    receipt_cert_pem: bytes
    timeout_s: float = 10.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    wss_signature: Policy = Policy.OPTIONAL
    """WS-Security message signatures: pushes signed unless OFF; answers checked against
    `receipt_cert_pem` when signed (REQUIRED: they must be)."""
    contract: ReceiveContract | None = None
    """The partner's WSDL, binding and message namespace (None: its default, see
    exchange/transports/soap_push/receive_contract.py)."""

    @classmethod
    def from_agreement(cls, agreement: Agreement, base: Path | None = None) -> OutboundSettings:
        """Options: soap_outbound_url (required), soap_receipt_certificate (default
        soap_certificate, the partner's signing certificate), soap_timeout_s,
        soap_breaker_failures, soap_breaker_cooldown_s, soap_wss_signature, soap_wsdl and
        soap_binding (the partner's contract). Paths relative to `base`."""
        opts = agreement.options
        url = opts.get("soap_outbound_url")
        cert = opts.get("soap_receipt_certificate", opts.get("soap_certificate"))
        if not url or not cert:
            raise ConfigError(
                f"partner {agreement.partner}: soap_outbound_url and soap_receipt_certificate "
                "(or soap_certificate) are required for outbound SOAP"
            )
        path = _resolve(str(cert), base)
        return cls(
            partner=agreement.partner,
            url=str(url),
            receipt_cert_pem=load_certificate(path),
            timeout_s=float(opts.get("soap_timeout_s", 10.0)),
            breaker_failures=int(opts.get("soap_breaker_failures", 5)),
            breaker_cooldown_s=float(opts.get("soap_breaker_cooldown_s", 30.0)),
            wss_signature=Policy.from_option(
                opts.get("soap_wss_signature"), f"partners.{agreement.partner}.options", has_certificate=True
            ),
            contract=contract_of(agreement, base),
        )


class OutboundClient:
    """One partner's receiving service. Thread-safe; one per partner (the breaker is its)."""

    def __init__(
        self,
        settings: OutboundSettings,
        signer: Signer,
        receipts: ReceiptStore,
        *,
        breaker: CircuitBreaker | None = None,
        check_signed: Callable[[bytes], object] | None = None,
    ):
        self.contract = settings.contract or read_contract(default_wsdl(settings.partner))
        self.settings = settings
        self.partner = settings.partner
        self.signer = signer
        self.check_signed = check_signed
        """The partner format's check of the document as sent, signature in place."""
        self.receipts = receipts
        self.breaker = breaker or CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s)
        self.recorder = _ResponseRecorder()
        self.session = requests.Session()
        self.session.hooks["response"].append(self.recorder)
        z: Any = zeep  # untyped library
        self.transport = z.Transport(timeout=30, operation_timeout=settings.timeout_s, session=self.session)
        zsettings = z.Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True)
        wsdl = str(self.contract.wsdl)
        wsse = None
        if settings.wss_signature is not Policy.OFF:
            wsse = _MessageSecurity(WssSigner.from_signer(signer), settings)
        self.client: Any = z.Client(wsdl, transport=self.transport, settings=zsettings, wsse=wsse)
        self.service: Any = self.client.create_service(self.contract.binding, settings.url)

    def sign(self, document: bytes, message_id: str | None = None) -> bytes:
        """Our enveloped signature over the document, by reference to its Id (`doc-` + the
        message id); kept as is when it carries one already. Checked again as sent."""
        signed = sign_document(self.signer, document, message_id)
        if self.check_signed is not None and signed is not document:
            self.check_signed(signed)
        return signed

    def send(
        self, document: bytes, *, message_id: str, conversation_id: str, ref_to: str | None = None
    ) -> SendResult:
        """Sign, send, verify and store the receipt; never raises for the partner's failures."""
        try:
            signed = self.sign(document, message_id)
        except (DocumentError, ExchangeError) as exc:
            return SendResult(Outcome.FAILED, f"cannot sign the document: {exc}")
        if not self.breaker.allow():
            return SendResult(Outcome.CIRCUIT_OPEN, f"circuit open for partner {self.partner}")
        try:
            result = self._call(signed, message_id, conversation_id, ref_to)
        except Exception as exc:  # whatever happened, the breaker must hear of it (a half-open trial)
            result = SendResult(Outcome.FAILED, f"outbound client error: {type(exc).__name__}: {exc}"[:1000])
        if result.outcome is Outcome.FAILED:
            self.breaker.failure()
        else:
            self.breaker.success()
        log.info(
            "sent", partner=self.partner, message_id=message_id, outcome=result.outcome, reason=result.reason
        )
        return result

    def _call(self, signed: bytes, mid: str, conversation: str, ref_to: str | None) -> SendResult:
        header: dict[str, Any] = {
            "MessageId": mid,
            "ConversationId": conversation,
            "Timestamp": datetime.now(UTC),
        }
        if ref_to:
            header["RefToMessageId"] = ref_to
        timeout = self.settings.timeout_s
        self.recorder.reset()
        try:
            self.service.ReceiveDocument(Document=signed, _soapheaders={"header": header})
        except MessageSignatureError as exc:
            return SendResult(
                Outcome.FAILED, f"the answer's WS-Security signature is refused: {exc.reason}", answered=True
            )
        except zeep.exceptions.Fault as exc:
            code = _fault_code(exc, self.contract)
            return SendResult(Outcome.FAILED, f"SOAP fault from the partner ({code}): {exc.message}"[:1000])
        except requests.Timeout:
            return SendResult(Outcome.FAILED, f"no answer within {timeout:g} s")
        except requests.ConnectionError as exc:
            return SendResult(Outcome.FAILED, f"partner unreachable: {type(exc).__name__}")
        except zeep.exceptions.TransportError as exc:
            if exc.status_code == 200:
                return SendResult(Outcome.FAILED, "malformed response: not well-formed XML")
            return SendResult(
                Outcome.FAILED, f"HTTP {exc.status_code} from the partner without a SOAP answer"
            )
        except (zeep.exceptions.Error, ValueError) as exc:
            return SendResult(Outcome.FAILED, f"malformed response: {exc}"[:1000])
        raw = self.recorder.content
        if raw is None:
            return SendResult(Outcome.FAILED, "no response content recorded")
        return self._receipt(raw, mid, hashlib.sha256(signed).hexdigest())

    def _receipt(self, raw: bytes, mid: str, digest: str) -> SendResult:
        """Trust only what the partner's signature covers, and only when it is about this send."""
        try:
            envelope = parse_bytes(raw, limits=_RESPONSE_LIMITS)
            found = envelope.find(f".//{self.contract.q('Receipt')}")
            if found is None:
                return SendResult(Outcome.FAILED, "malformed response: no Receipt", answered=True)
            receipt = verify_enveloped(found, self.settings.receipt_cert_pem)  # in place (Id reference)
            standalone = parse_bytes(etree.tostring(found), limits=_RESPONSE_LIMITS)
        except DocumentError as exc:
            return SendResult(Outcome.FAILED, f"malformed response: {exc}", answered=True)
        except SignatureInvalid as exc:
            return SendResult(Outcome.FAILED, f"receipt signature invalid: {exc}"[:1000], answered=True)
        receipt_id = receipt.findtext(self.contract.q("ReceiptId")) or ""
        status = receipt.findtext(self.contract.q("Status")) or ""
        ref = receipt.findtext(self.contract.q("RefToMessageId"))
        if ref != mid:
            return SendResult(
                Outcome.FAILED, f"the receipt {receipt_id} is for message {ref}, not {mid}", answered=True
            )
        if receipt.findtext(self.contract.q("DocumentDigest")) != digest:
            return SendResult(Outcome.FAILED, "the receipt's document digest is not ours", answered=True)
        if status not in ("ACK", "WARN", "REJECT"):
            return SendResult(Outcome.FAILED, f"unknown receipt status {status[:20]!r}", answered=True)
        self.receipts.put(self.partner, receipt_id, mid, status, etree.tostring(standalone))
        warnings = tuple(w.text or "" for w in receipt.findall(self.contract.q("Warning")))
        if status == "REJECT":
            reason = receipt.findtext(self.contract.q("Reason")) or "rejected by the partner"
            return SendResult(Outcome.REJECTED, reason, receipt_id=receipt_id, answered=True)
        outcome = Outcome.ACKNOWLEDGED if status == "ACK" else Outcome.WARNED
        return SendResult(outcome, warnings=warnings, receipt_id=receipt_id, answered=True)

    def close(self) -> None:
        self.session.close()


class _MessageSecurity:
    """zeep's wsse hook: signs each push (WS-Security) and checks the partner's answer."""

    def __init__(self, signer: WssSigner, settings: OutboundSettings):
        self.signer = signer
        self.required = settings.wss_signature is Policy.REQUIRED
        self.cert_pem = settings.receipt_cert_pem
        self.verifier = WssVerifier()

    def apply(
        self, envelope: etree._Element, headers: dict[str, Any]
    ) -> tuple[etree._Element, dict[str, Any]]:
        self.signer.sign(envelope)
        return envelope, headers

    def verify(self, envelope: etree._Element) -> None:
        header = envelope.find(ns.q(etree.QName(envelope).namespace or "", "Header"))
        if self.required or carries_signature(header):
            self.verifier.verify(envelope, self.cert_pem)


def build_client(
    agreement: Agreement,
    *,
    folder: Path | None = None,
    audit_url: str | None = None,
    signer: Signer | None = None,
) -> OutboundClient:
    """The client the service runs for one agreement: settings from its options (relative
    paths from `folder`, the agreements file's), our key pair from soap_signing_key /
    soap_signing_cert or else EXCHANGE_SIGNING_KEY / EXCHANGE_SIGNING_CERT; receipts in the
    audit database (`audit_url`, default EXCHANGE_AUDIT_URL)."""
    settings = OutboundSettings.from_agreement(agreement, folder)
    if signer is None:
        key, cert = agreement.options.get("soap_signing_key"), agreement.options.get("soap_signing_cert")
        if key and cert:
            signer = Signer.from_files(_resolve(str(key), folder), _resolve(str(cert), folder))
        else:
            signer = Signer.from_env()
    fmt = partner_format(agreement)
    return OutboundClient(settings, signer, ReceiptStore(audit_url), check_signed=fmt.check_bytes)


def _resolve(path: str, base: Path | None) -> Path:
    p = Path(path)
    return p if base is None or p.is_absolute() else base / p


def retry_schedule(
    mode: str, first_s: int, steps: int, *, factor: float = 2.0, cap_s: int = 86400
) -> tuple[int, ...]:
    """An agreement's retry_seconds: constant (first_s every time) or progressive (times
    `factor` each step, capped). One TTL queue per step, so `steps` stays small."""
    if steps < 0 or first_s < 1 or factor < 1:
        raise ConfigError("retry schedule: steps >= 0, first_s >= 1 and factor >= 1 are required")
    if mode == "constant":
        return (first_s,) * steps
    if mode == "progressive":
        return tuple(min(cap_s, round(first_s * factor**i)) for i in range(steps))
    raise ConfigError(f"retry schedule: mode must be constant or progressive, not {mode!r}")


def _fault_code(exc: Any, contract: ReceiveContract) -> str:
    detail = getattr(exc, "detail", None)
    if isinstance(detail, etree._Element):
        code = detail.find(f".//{contract.q('Code')}")
        if code is not None and code.text:
            return str(code.text)
    return str(getattr(exc, "code", None) or "unknown")
