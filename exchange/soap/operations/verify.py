"""VerifyCertificate: online verification of a CCC certificate for market surveillance,
from the statuses the domestic pipeline recorded (never from partners' submissions).
A certificate outside the caller's agreement is answered exactly as one we do not know
(UNKNOWN_CERTIFICATE, same text): the scope is not a way to learn what we hold."""

from __future__ import annotations

from lxml import etree

from exchange.model import Kind
from exchange.scope import categories_in_scope
from exchange.soap import ns
from exchange.soap.context import Call, Services, add, element
from exchange.soap.faults import FaultCode, SoapFault


def verify_certificate(svc: Services, call: Call) -> etree._Element:
    number = call.text("CertificateNumber") or ""
    agreement = svc.config.partners[call.partner]
    if Kind.CCC not in agreement.families:
        raise SoapFault(
            FaultCode.NOT_AUTHORISED,
            f"the {call.partner} agreement does not cover product certificates",
            record_id=number,
        )
    cert = svc.store.certificate(number)
    outside = (
        cert is not None
        and Kind.CCC in agreement.scope
        and cert.category not in categories_in_scope(agreement)
    )
    if cert is None or outside:
        raise SoapFault(
            FaultCode.UNKNOWN_CERTIFICATE,
            f"no CCC certificate {number} is known under the {call.partner} agreement",
            record_id=number,
            details={"outsideScope": True} if outside else {},
        )
    now = svc.now()
    state = element(
        "Certificate",
        ("CertificateNumber", number),
        ("Status", cert.status_on(now.date()).value),
        ("IssueDate", cert.issue_date.isoformat()),
        ("ExpiryDate", None if cert.expiry_date is None else cert.expiry_date.isoformat()),
    )
    if cert.change_date is not None and cert.change_status is not None:
        change = etree.SubElement(state, ns.mra("LastChange"))
        add(
            change,
            ("Date", cert.change_date.isoformat()),
            ("Status", cert.change_status.value),
            ("Reason", cert.change_reason),
        )
    add(state, ("CheckedAt", now))
    response = element("VerifyCertificateResponse")
    response.append(state)
    return response
