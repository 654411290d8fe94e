"""The WS-SecurityPolicy in the WSDLs (what WSS4J/CXF and .NET clients configure themselves
from) says what the code does, and zeep still loads both WSDLs, as shipped and as served."""

from __future__ import annotations

import pytest
import zeep
from lxml import etree

from exchange.signing import KeyPairFiles
from exchange.soap.contract import contract_path
from tests.soap.conftest import EndpointFactory
from tests.soap.support import agreements
from tests.soap.wss_partner import ZeepPartner

WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
WSP = "{http://www.w3.org/ns/ws-policy}"
SP = "{http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702}"
WSU_ID = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id"
CONTRACTS = {"exchange-1.0.wsdl": True, "partner-eu-1.0.wsdl": False, "partner-receive-1.0.wsdl": False}
"""WSDL -> whether a UsernameToken goes beside the signature."""


def _policies(root: etree._Element) -> dict[str, etree._Element]:
    return {p.get(WSU_ID, ""): p for p in root.iterfind(f"{WSP}Policy")}


@pytest.mark.parametrize(("name", "username_token"), CONTRACTS.items())
def test_every_binding_and_message_carries_the_policy(name: str, username_token: bool) -> None:
    root = etree.parse(str(contract_path(name))).getroot()
    policies = _policies(root)
    bindings = root.findall(f"{WSDL}binding")
    assert bindings
    messages = 0
    for binding in bindings:
        (ref,) = binding.findall(f"{WSP}PolicyReference")
        policy = policies[ref.get("URI", "#")[1:]]
        asymmetric = policy.find(f".//{SP}AsymmetricBinding")
        assert asymmetric is not None
        assert asymmetric.find(f".//{SP}IncludeTimestamp") is not None
        assert asymmetric.find(f".//{SP}InitiatorToken//{SP}X509Token//{SP}WssX509V3Token10") is not None
        assert asymmetric.find(f".//{SP}RecipientToken//{SP}X509Token") is not None
        assert asymmetric.find(f".//{SP}AlgorithmSuite//{SP}Basic256Sha256") is not None
        supporting = policy.find(f".//{SP}SupportingTokens//{SP}UsernameToken")
        assert (supporting is not None) is username_token
        for message in binding.iterfind(f"{WSDL}operation/*"):
            if etree.QName(message).localname not in ("input", "output"):
                continue
            (part_ref,) = message.findall(f"{WSP}PolicyReference")
            parts = policies[part_ref.get("URI", "#")[1:]]
            assert parts.find(f".//{SP}SignedParts/{SP}Body") is not None
            messages += 1
    # exchange: 6 operations x 2 bindings x (input, output); partner-eu, partner-receive: 1 x 1 x 2
    assert messages == (24 if username_token else 2)


@pytest.mark.parametrize("name", CONTRACTS)
def test_zeep_loads_the_wsdl_with_its_policy(name: str) -> None:
    client = zeep.Client(str(contract_path(name)))
    assert list(client.wsdl.services)


def test_zeep_loads_the_served_wsdl_by_url_and_calls_it_signed(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    """1 call through the WSDL fetched from the running endpoint, signed; the answer verified."""
    endpoint = endpoint_factory(agreements(nz={"soap_wss_signature": "required"}))
    partner = ZeepPartner(partner_keys["nz"], our_keys.certificate)
    client = zeep.Client(endpoint.url + "?wsdl", wsse=partner)
    client.service.ListPending()  # a fault would raise
    assert partner.verified == 1
    assert endpoint.rejections() == []
