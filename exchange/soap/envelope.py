"""SOAP 1.1 and 1.2 envelopes: read one (hardened, limits first), write responses and faults.

The version is the envelope's namespace; before there is an envelope (too large, not XML)
the Content-Type decides which kind of fault the client can read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from lxml import etree

from exchange.errors import DocumentError
from exchange.soap import ns
from exchange.soap.faults import FaultCode, SecurityFault, SoapFault
from exchange.xml.safe import Limits, parse_bytes


class SoapVersion(Enum):
    V11 = ns.SOAP11
    V12 = ns.SOAP12

    @property
    def namespace(self) -> str:
        return str(self.value)

    @property
    def content_type(self) -> str:
        return "text/xml; charset=utf-8" if self is SoapVersion.V11 else "application/soap+xml; charset=utf-8"


def version_from_content_type(content_type: str) -> SoapVersion:
    return SoapVersion.V12 if "application/soap+xml" in content_type.lower() else SoapVersion.V11


@dataclass(frozen=True, slots=True)
class Envelope:
    version: SoapVersion
    header: etree._Element | None
    payload: etree._Element
    """The one element in the Body: names the operation (document/literal wrapped)."""


class VersionMismatch(SoapFault):
    """An Envelope in a namespace that is neither SOAP 1.1 nor 1.2."""


def version_of_root(root: etree._Element) -> SoapVersion:
    """The SOAP version an envelope's root names, or the fault for a root that is not one."""
    tag = etree.QName(root)
    versions = {v.namespace: v for v in SoapVersion}
    if tag.localname == "Envelope" and tag.namespace not in versions:
        raise VersionMismatch(FaultCode.MALFORMED, f"unknown SOAP envelope namespace {tag.namespace!r}")
    version = versions.get(tag.namespace or "")
    if version is None:
        raise SoapFault(FaultCode.MALFORMED, f"the request is not a SOAP envelope (root {tag.localname!r})")
    return version


def parse_envelope(data: bytes, limits: Limits) -> Envelope:
    try:
        root = parse_bytes(data, limits=limits)
    except DocumentError as exc:
        raise SoapFault(FaultCode.MALFORMED, f"the request is refused: {exc.reason}") from None
    version = version_of_root(root)
    children = list(root)
    header = None
    if children and children[0].tag == ns.q(version.namespace, "Header"):
        header = children.pop(0)
    if len(children) != 1 or children[0].tag != ns.q(version.namespace, "Body"):
        raise SoapFault(FaultCode.MALFORMED, "the envelope must hold an optional Header and one Body")
    body = children[0]
    payload = list(body)
    if len(payload) != 1 or (body.text or "").strip() or (payload[0].tail or "").strip():
        raise SoapFault(FaultCode.MALFORMED, "the Body must hold exactly one element")
    return Envelope(version, header, payload[0])


Sign = Callable[[etree._Element], object]
"""Signs an envelope in place before it is written (WS-Security, exchange/soap/wss_signature.py)."""


def response(version: SoapVersion, payload: etree._Element, *, sign: Sign | None = None) -> bytes:
    env = etree.Element(ns.q(version.namespace, "Envelope"), nsmap={"soap": version.namespace})
    etree.SubElement(env, ns.q(version.namespace, "Body")).append(payload)
    if sign is not None:
        sign(env)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_detail(fault: SoapFault, request_id: str) -> etree._Element:
    detail = etree.Element(ns.mra("FaultDetail"), nsmap={"mra": ns.MRA})
    etree.SubElement(detail, ns.mra("Code")).text = fault.code.value
    etree.SubElement(detail, ns.mra("Message")).text = fault.message or fault.code.value
    etree.SubElement(detail, ns.mra("RequestId")).text = request_id
    for problem in fault.problems:
        el = etree.SubElement(detail, ns.mra("Problem"))
        el.text = problem.message[:1000] or "problem"
        if problem.line is not None:
            el.set("line", str(problem.line))
        if problem.column is not None:
            el.set("column", str(problem.column))
        if problem.path:
            el.set("path", problem.path)
    return detail


def fault_response(
    version: SoapVersion, fault: SoapFault, request_id: str, *, sign: Sign | None = None
) -> tuple[int, bytes]:
    """(HTTP status, envelope) for a fault, in the request's SOAP version.

    TOO_LARGE is HTTP 413 in both versions: the body was left unread, and on a 413 the
    server closes the connection instead of draining what the client still sends.
    """
    detail = fault_detail(fault, request_id)
    env_ns = version.namespace
    if version is SoapVersion.V11:
        body = etree.Element(ns.q(env_ns, "Fault"), nsmap={"soap": env_ns, "wsse": ns.WSSE})
        etree.SubElement(body, "faultcode").text = _code11(fault)
        etree.SubElement(body, "faultstring").text = fault.message
        etree.SubElement(body, "detail").append(detail)
        return (413 if fault.code is FaultCode.TOO_LARGE else 500), response(version, body, sign=sign)
    body = etree.Element(ns.q(env_ns, "Fault"), nsmap={"soap": env_ns, "mra": ns.MRA})
    code = etree.SubElement(body, ns.q(env_ns, "Code"))
    etree.SubElement(code, ns.q(env_ns, "Value")).text = f"soap:{_code12(fault)}"
    sub = etree.SubElement(code, ns.q(env_ns, "Subcode"))
    etree.SubElement(sub, ns.q(env_ns, "Value")).text = f"mra:{fault.code.value}"
    reason = etree.SubElement(body, ns.q(env_ns, "Reason"))
    text = etree.SubElement(reason, ns.q(env_ns, "Text"))
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = fault.message
    etree.SubElement(body, ns.q(env_ns, "Detail")).append(detail)
    status = 413 if fault.code is FaultCode.TOO_LARGE else 400 if _code12(fault) == "Sender" else 500
    return status, response(version, body, sign=sign)


def _code11(fault: SoapFault) -> str:
    if isinstance(fault, VersionMismatch):
        return "soap:VersionMismatch"
    if fault.code is FaultCode.MUST_UNDERSTAND:
        return "soap:MustUnderstand"
    if fault.code is FaultCode.NOT_AUTHENTICATED:
        return "wsse:FailedAuthentication"
    if isinstance(fault, SecurityFault):
        return f"wsse:{fault.wsse_code}"
    return "soap:Client" if fault.sender else "soap:Server"


def _code12(fault: SoapFault) -> str:
    if isinstance(fault, VersionMismatch):
        return "VersionMismatch"
    if fault.code is FaultCode.MUST_UNDERSTAND:
        return "MustUnderstand"
    return "Sender" if fault.sender else "Receiver"
