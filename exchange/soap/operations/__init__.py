"""The operations of schemas/soap/exchange-1.0.wsdl, by the element that names each."""

from __future__ import annotations

from exchange.soap import ns
from exchange.soap.context import Handler
from exchange.soap.operations.pull import acknowledge_document, list_pending, pull_document
from exchange.soap.operations.status import get_delivery_status
from exchange.soap.operations.submit import submit_document
from exchange.soap.operations.verify import verify_certificate

OPERATIONS: dict[str, Handler] = {
    ns.mra("SubmitDocument"): submit_document,
    ns.mra("VerifyCertificate"): verify_certificate,
    ns.mra("ListPending"): list_pending,
    ns.mra("PullDocument"): pull_document,
    ns.mra("AcknowledgeDocument"): acknowledge_document,
    ns.mra("GetDeliveryStatus"): get_delivery_status,
}

__all__ = ["OPERATIONS"]
