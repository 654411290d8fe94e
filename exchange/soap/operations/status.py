"""GetDeliveryStatus: where a message we sent to the caller stands, from the audit trail
(the same lifecycle for every transport). Another partner's message is answered exactly
as one that does not exist (UNKNOWN_DOCUMENT, same text, the same work done), so asking
tells nobody which ids exist; the audit still records whose message was reached for."""

from __future__ import annotations

from lxml import etree

from exchange.audit.entry import format_time
from exchange.soap import ns
from exchange.soap.context import Call, Services, add, element
from exchange.soap.faults import FaultCode, SoapFault

MAX_EVENTS = 1000


def get_delivery_status(svc: Services, call: Call) -> etree._Element:
    message_id = call.text("MessageId") or ""
    # Two indexed look-ups whatever the id, before anything that depends on whose it is.
    known = svc.audit.last_state(message_id) is not None
    if svc.audit.last_state(message_id, call.partner) is None:
        foreign = known  # for our audit only: whose it is stays out of the answer
        raise SoapFault(
            FaultCode.UNKNOWN_DOCUMENT,
            f"no message {message_id} is known for {call.partner}",
            message_id=message_id if foreign else None,
            foreign=foreign,
        )
    own = [e for e in svc.audit.trace(message_id) if e.message_id == message_id and e.partner == call.partner]
    last = own[-1]
    response = element(
        "GetDeliveryStatusResponse",
        ("MessageId", message_id),
        ("State", last.event.value),
        ("Since", format_time(last.time)),
    )
    for e in own[-MAX_EVENTS:]:
        item = etree.SubElement(response, ns.mra("Event"))
        add(item, ("State", e.event.value), ("Time", format_time(e.time)))
    return response
