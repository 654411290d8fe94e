"""The contract partners review: the WSDL and XSDs as served, read by zeep over HTTP, and
kept in step with the code (operations, fault codes, lifecycle states)."""

from __future__ import annotations

import urllib.request

import pytest
import zeep
from lxml import etree
from zeep.wsse.username import UsernameToken

from exchange.audit import AuditEvent
from exchange.soap import FaultCode, SoapSettings
from exchange.soap.contract import MESSAGES_XSD, WSDL, contract_path, messages_schema
from exchange.soap.operations import OPERATIONS
from tests.soap.conftest import EndpointFactory
from tests.soap.support import MRA, SECRETS, Endpoint

XS = "{http://www.w3.org/2001/XMLSchema}"
WSDL_NS = "{http://schemas.xmlsoap.org/wsdl/}"


def _enumeration(type_name: str) -> list[str]:
    xsd = etree.parse(str(contract_path(MESSAGES_XSD)))
    (simple,) = xsd.getroot().iterfind(f"{XS}simpleType[@name='{type_name}']")
    return [e.get("value", "") for e in simple.iter(f"{XS}enumeration")]


def test_zeep_reads_the_served_wsdl_and_calls_through_both_ports(endpoint: Endpoint) -> None:
    wsdl_url = endpoint.url + "?wsdl"
    client = zeep.Client(wsdl_url, wsse=UsernameToken("nz", SECRETS["nz"], use_digest=True))
    for port in ("ExchangeSoap11", "ExchangeSoap12"):
        service = client.bind("ExchangeService", port)
        assert service._binding_options["address"] == endpoint.url
        assert service.ListPending().More is False


def test_the_served_wsdl_is_the_shipped_one_with_our_address(endpoint: Endpoint) -> None:
    served = etree.fromstring(urllib.request.urlopen(endpoint.url + "?wsdl").read())
    shipped = etree.parse(str(contract_path(WSDL))).getroot()
    addresses = [el.get("location") for el in served.iter("{*}address")]
    assert addresses == [endpoint.url, endpoint.url]
    for el in shipped.iter("{*}address"):
        el.set("location", endpoint.url)
    strip = etree.XMLParser(remove_comments=True)
    assert etree.tostring(served) == etree.tostring(etree.fromstring(etree.tostring(shipped), strip))


def test_the_xsds_are_served_as_shipped(endpoint: Endpoint) -> None:
    for name in (MESSAGES_XSD, "xmldsig-core-schema.xsd"):
        served = urllib.request.urlopen(f"{endpoint.server.base_url}/soap/{name}").read()
        assert served == contract_path(name).read_bytes()


def test_a_configured_public_address_wins(endpoint_factory: EndpointFactory) -> None:
    endpoint = endpoint_factory(settings=SoapSettings(public_url="https://mra.example.cn/soap/v1"))
    served = etree.fromstring(urllib.request.urlopen(endpoint.url + "?wsdl").read())
    assert {el.get("location") for el in served.iter("{*}address")} == {"https://mra.example.cn/soap/v1"}


def test_a_hostile_host_header_does_not_reach_the_wsdl(endpoint: Endpoint) -> None:
    request = urllib.request.Request(endpoint.url + "?wsdl", headers={"Host": 'evil"><x'})
    served = etree.fromstring(urllib.request.urlopen(request).read())
    assert all("evil" not in (el.get("location") or "") for el in served.iter("{*}address"))


def test_every_operation_of_the_wsdl_is_served_in_both_bindings() -> None:
    wsdl = etree.parse(str(contract_path(WSDL))).getroot()
    (port_type,) = wsdl.iterfind(f"{WSDL_NS}portType")
    operations = {op.get("name") for op in port_type.iterfind(f"{WSDL_NS}operation")}
    assert {f"{{{MRA}}}{name}" for name in operations} == set(OPERATIONS)
    for binding in wsdl.iterfind(f"{WSDL_NS}binding"):
        assert {op.get("name") for op in binding.iterfind(f"{WSDL_NS}operation")} == operations


def test_the_fault_codes_and_lifecycle_states_match_the_code() -> None:
    assert _enumeration("FaultCode") == [c.value for c in FaultCode]
    assert _enumeration("LifecycleState") == [e.value for e in AuditEvent]


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_operation_has_a_request_and_response_element(operation: str) -> None:
    schema = etree.parse(str(contract_path(MESSAGES_XSD))).getroot()
    names = {el.get("name") for el in schema.iterfind(f"{XS}element")}
    local = etree.QName(operation).localname
    assert {local, f"{local}Response"} <= names
    assert messages_schema().target_namespace == MRA
