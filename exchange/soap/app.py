"""The WSGI application: one POST address for SOAP 1.1 and 1.2, the WSDL and its XSDs.

Per request, cheapest refusal first: size (Content-Length, then what is read, never
more than the limit) -> hardened parse (DOCTYPE, depth) -> envelope -> mustUnderstand
headers -> WS-Security (UsernameToken, then the message signature the agreement asks
for) -> operation -> request schema -> handler; a signed request gets a signed answer. A
request larger than 64 kB has only its SOAP Header parsed, within a small budget
(preauth.py), until WS-Security has said who sent it. Every fault from an authenticated
caller is audited as REJECTED, durably before any response leaves; refusals before
authentication are counted, with one audit row per source and minute (refusals.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from lxml import etree

from exchange.audit import AuditEntry, AuditEvent
from exchange.errors import DocumentError, ExchangeError
from exchange.soap import ns
from exchange.soap.context import Call, Services
from exchange.soap.contract import messages_schema, served_xsd, wsdl_for
from exchange.soap.credentials import PartnerCredential
from exchange.soap.envelope import (
    Envelope,
    SoapVersion,
    fault_response,
    parse_envelope,
    response,
    version_from_content_type,
)
from exchange.soap.faults import FaultCode, SecurityFault, SoapFault, problems_of
from exchange.soap.operations import OPERATIONS
from exchange.soap.preauth import HeaderBudget, read_preamble
from exchange.soap.refusals import UnauthenticatedRefusals
from exchange.soap.settings import DEFAULT_HOST, DEFAULT_PORT, SoapSettings
from exchange.soap.wss_signature import (
    MessageSignatureError,
    Policy,
    WssSigner,
    WssVerifier,
    carries_signature,
)
from exchange.soap.wsse import Authenticator

log = structlog.get_logger("exchange.soap")

StartResponse = Callable[..., Any]
_ULTIMATE = {None, "http://schemas.xmlsoap.org/soap/actor/next", "http://www.w3.org/2003/05/soap-envelope/role/next",
             "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"}  # fmt: skip
_UNDERSTOOD = frozenset({ns.q(ns.WSSE, "Security")})


class SoapApp:
    def __init__(
        self,
        services: Services,
        authenticator: Authenticator,
        settings: SoapSettings,
        *,
        wss_signer: WssSigner | None = None,
        wss_verifier: WssVerifier | None = None,
    ):
        self.services = services
        self.auth = authenticator
        self.settings = settings
        self.wss_signer = wss_signer
        """Signs the answer to every request that came with a WS-Security signature."""
        self.wss_verifier = wss_verifier or WssVerifier(
            max_skew_s=settings.max_skew_s, max_age_s=settings.max_skew_s, clock=authenticator.clock
        )
        self._schema = messages_schema()
        self._xsd_prefix = settings.path.rsplit("/", 1)[0] + "/"
        self._public = settings.public_url or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
        self.header_budget = HeaderBudget()
        self.refusals = UnauthenticatedRefusals(services.audit)

    @property
    def prefix(self) -> str:
        """The folder of the endpoint (/soap/): the contract's files are served under it."""
        return self._xsd_prefix

    @property
    def public_url(self) -> str:
        """Where partners reach the service: the base of every address in the contract."""
        return self._public

    def listening_at(self, base_url: str) -> None:
        """The server's own address (scheme://host:port), once bound: the contract's
        addresses unless the settings name a public URL."""
        if self.settings.public_url is None:
            self._public = base_url.rstrip("/")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path == self.settings.path:
            if method == "POST":
                return self._soap(environ, start_response)
            if method in ("GET", "HEAD") and environ.get("QUERY_STRING", "").lower() == "wsdl":
                wsdl = wsdl_for(self._public + self.settings.path, self._public + self._xsd_prefix)
                return _send(start_response, 200, "text/xml; charset=utf-8", wsdl, method)
            return _send(start_response, 405, "text/plain", b"POST SOAP requests here; GET ?wsdl\n", method)
        if method in ("GET", "HEAD") and path.startswith(self._xsd_prefix):
            xsd = served_xsd(path[len(self._xsd_prefix) :], self._public + self._xsd_prefix)
            if xsd is not None:
                return _send(start_response, 200, "text/xml; charset=utf-8", xsd, method)
        return _send(start_response, 404, "text/plain", b"not found\n", method)

    # -- SOAP ----------------------------------------------------------------------

    def _soap(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        version = version_from_content_type(environ.get("CONTENT_TYPE", ""))
        caller: str | None = None
        operation: str | None = None
        sign = None
        try:
            data = self._read_body(environ)
            tls = environ.get("wsgi.url_scheme") == "https"
            if len(data) <= self.header_budget.max_bytes:  # small: parsed whole, as cheap as its header
                envelope = parse_envelope(data, self.settings.envelope_limits())
                version = envelope.version
                _check_headers(envelope)
                credential = self.auth.authenticate(envelope.header, tls=tls)
                caller = credential.partner
            else:  # large: nothing past the Header is parsed before the caller is known
                preamble = read_preamble(data, self.header_budget)
                version = preamble.version
                credential = self.auth.authenticate(preamble.header, tls=tls)
                caller = credential.partner
                envelope = parse_envelope(data, self.settings.envelope_limits())
                _check_headers(envelope)
            del data
            if self.wss_signer is not None and carries_signature(envelope.header):
                # A signed request gets a signed answer, faults included; only once the caller
                # is authenticated: nobody else makes us spend a private-key operation.
                sign = self.wss_signer.sign
            self._check_signature(envelope, credential)
            operation = etree.QName(envelope.payload).localname
            handler = OPERATIONS.get(envelope.payload.tag)
            if handler is None:
                raise SoapFault(FaultCode.UNKNOWN_OPERATION, f"no operation {envelope.payload.tag}")
            self._validate(envelope.payload)
            result = handler(self.services, Call(request_id, credential, envelope.payload))
            self.services.audit.flush()
            status, body = 200, response(version, result, sign=sign)
        except SoapFault as fault:
            status, body = self._refuse(fault, version, request_id, caller, operation, environ, sign)
        except Exception as exc:  # a request must never take the server down
            log.exception("SOAP request failed", request_id=request_id, operation=operation, partner=caller)
            code = FaultCode.UNAVAILABLE if isinstance(exc, ExchangeError) else FaultCode.INTERNAL
            failure = SoapFault(code, "the request could not be processed; quote the request id to us")
            status, body = self._refuse(failure, version, request_id, caller, operation, environ, sign)
        headers = [("Content-Type", version.content_type), ("Content-Length", str(len(body)))]
        start_response(_STATUS[status], headers)
        return [body]

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        """At most the limit: a declared length over it is refused unread."""
        limit = self.settings.max_body_bytes
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared:
            if not declared.isdigit():
                raise SoapFault(FaultCode.MALFORMED, "Content-Length is not a number")
            if int(declared) > limit:
                raise _too_large(int(declared), limit)
        data: bytes = environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise _too_large(None, limit)
        return data

    def _check_signature(self, envelope: Envelope, credential: PartnerCredential) -> None:
        """The caller's WS-Security signature, as its agreement asks (soap_wss_signature)."""
        policy = credential.wss_signature
        if policy is Policy.OFF or credential.certificate is None:
            return
        if policy is Policy.OPTIONAL and not carries_signature(envelope.header):
            return
        try:
            self.wss_verifier.verify(envelope.payload.getroottree().getroot(), credential.certificate)
        except MessageSignatureError as exc:
            wsse_code = "FailedCheck"
            if exc.missing or exc.expired:
                wsse_code = "InvalidSecurity" if exc.missing else "MessageExpired"
            raise SecurityFault(
                FaultCode.SIGNATURE_INVALID,
                f"WS-Security message signature refused: {exc.reason}",
                wsse_code=wsse_code,
                details={"wss": exc.reason},
            ) from None

    def _validate(self, payload: etree._Element) -> None:
        try:
            self._schema.check(payload)
        except DocumentError as exc:
            raise SoapFault(
                FaultCode.SCHEMA_INVALID,
                f"{etree.QName(payload).localname} does not conform to exchange-1.0.xsd",
                problems=problems_of(exc),
            ) from None

    def _refuse(
        self,
        fault: SoapFault,
        version: SoapVersion,
        request_id: str,
        caller: str | None,
        operation: str | None,
        environ: dict[str, Any],
        sign: Callable[[etree._Element], object] | None = None,
    ) -> tuple[int, bytes]:
        partner = fault.partner or (None if fault.foreign else caller)
        details: dict[str, Any] = {
            "code": fault.code.value,
            "reason": fault.message,
            "transport": "soap",
            "requestId": request_id,
            "remote": environ.get("REMOTE_ADDR"),
            **fault.details,
        }
        if operation:
            details["operation"] = operation
        if caller and fault.foreign:
            details["caller"] = caller
        if fault.problems:
            details["problems"] = [p.as_dict() for p in fault.problems[:5]]
        audit = self.services.audit
        if caller is None and not self.refusals.note(str(details["remote"]), fault.code.value):
            log.info("SOAP fault before authentication (counted)", request_id=request_id,
                     code=fault.code.value)  # fmt: skip
            return fault_response(version, fault, request_id)
        try:
            audit.append(
                AuditEntry(
                    AuditEvent.REJECTED,
                    message_id=fault.message_id or request_id,
                    record_id=fault.record_id,
                    partner=partner,
                    actor=f"soap:{caller}" if caller else "soap",
                    details=details,
                )
            )
            audit.flush()
        except Exception:  # the refusal stands; the log says the audit failed
            log.exception("cannot audit a SOAP fault", request_id=request_id, code=fault.code.value)
        log.info(
            "SOAP fault", request_id=request_id, code=fault.code.value, partner=caller, operation=operation
        )
        return fault_response(version, fault, request_id, sign=sign)


def _too_large(declared: int | None, limit: int) -> SoapFault:
    size = f"{declared} bytes" if declared is not None else "more than that"
    return SoapFault(
        FaultCode.TOO_LARGE,
        f"the request is {size}; the limit is {limit} bytes",
        details={"contentLength": declared, "limit": limit},
    )


def _check_headers(envelope: Envelope) -> None:
    """Header blocks meant for us with mustUnderstand set must be ones we understand."""
    if envelope.header is None:
        return
    env_ns = envelope.version.namespace
    role_attr = ns.q(env_ns, "actor" if envelope.version is SoapVersion.V11 else "role")
    for block in envelope.header:
        if not isinstance(block.tag, str) or block.tag in _UNDERSTOOD:
            continue
        if block.get(ns.q(env_ns, "mustUnderstand"), "0").strip() in ("1", "true") and (
            block.get(role_attr) in _ULTIMATE
        ):
            raise SoapFault(FaultCode.MUST_UNDERSTAND, f"header {block.tag} is not understood here")


_STATUS = {
    200: "200 OK",
    400: "400 Bad Request",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    500: "500 Internal Server Error",
}


def _send(
    start_response: StartResponse, status: int, content_type: str, body: bytes, method: str
) -> list[bytes]:
    start_response(_STATUS[status], [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [] if method == "HEAD" else [body]
