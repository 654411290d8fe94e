"""The contract partners review: the WSDL and XSDs as served, read by zeep over HTTP, and
kept in step with the code (operations, fault codes, lifecycle states)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

import pytest
import zeep
from lxml import etree
from zeep.wsse.username import UsernameToken

from exchange.audit import AuditEvent
from exchange.soap import FaultCode, SoapSettings
from exchange.soap.contract import MESSAGES_XSD, WSDL, contract_path, messages_schema, served_schemas
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


IMPORTS = {f"{XS}import": "schemaLocation", f"{XS}include": "schemaLocation", f"{WSDL_NS}import": "location"}


def _get(url: str, host: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body: bytes = answer.read()
    return body


def _addresses(document: etree._Element) -> list[str]:
    """Every address a contract file names: ports and import locations."""
    found = [el.get("location", "") for el in document.iter("{*}address")]
    for tag, attribute in IMPORTS.items():
        found += [el.get(attribute, "") for el in document.iter(tag)]
    return found


def _fetch_contract(wsdl_url: str, host: str | None = None) -> dict[str, etree._Element]:
    """The WSDL and everything it imports, fetched by URL as a partner's tool does, following
    the import locations as served (absolute URLs; relative ones against the importer)."""
    fetched: dict[str, etree._Element] = {}
    todo = [wsdl_url]
    while todo:
        url = todo.pop()
        document = etree.fromstring(_get(url, host))
        fetched[url] = document
        for tag, attribute in IMPORTS.items():
            for el in document.iter(tag):
                target = urllib.parse.urljoin(url, el.get(attribute, ""))
                if target not in fetched and target not in todo:
                    todo.append(target)
    return fetched


def _as_shipped(name: str, locations: dict[str, str]) -> bytes:
    shipped = etree.parse(str(contract_path(name)))
    for el in shipped.iter("{*}address"):
        el.set("location", locations["address"])
    for tag, attribute in IMPORTS.items():
        for el in shipped.iter(tag):
            el.set(attribute, locations["base"] + el.get(attribute, ""))
    return etree.tostring(shipped.getroot())


def test_the_whole_contract_is_served_by_url_as_shipped_with_our_addresses(endpoint: Endpoint) -> None:
    base = endpoint.server.base_url
    fetched = _fetch_contract(endpoint.url + "?wsdl")
    names = {url.rsplit("/", 1)[1] for url in fetched}
    assert names == {"v1?wsdl", *served_schemas()}, names  # what is served is what is imported
    assert {MESSAGES_XSD, "xmldsig-core-schema.xsd"} <= served_schemas()
    locations = {"address": endpoint.url, "base": f"{base}/soap/"}
    for url, document in fetched.items():
        name = WSDL if url.endswith("?wsdl") else url.rsplit("/", 1)[1]
        assert etree.tostring(document) == _as_shipped(name, locations), (
            f"{name} differs from the shipped file"
        )
        assert all(a.startswith(f"{base}/soap/") for a in _addresses(document)), name
    count = sum(len(_addresses(d)) for d in fetched.values())
    print(f"contract: {len(fetched)} files fetched by URL, {count} addresses, all ours")


def test_the_public_url_comes_from_exchange_public_url(
    endpoint_factory: EndpointFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGE_PUBLIC_URL", "https://mra.example.cn/gateway/")
    endpoint = endpoint_factory(settings=SoapSettings())
    # The imports name the public address, which this test cannot reach: fetch by our own.
    fetched = {WSDL: etree.fromstring(_get(endpoint.url + "?wsdl"))}
    for name in served_schemas():
        fetched[name] = etree.fromstring(_get(f"{endpoint.server.base_url}/soap/{name}"))
    addresses = [a for document in fetched.values() for a in _addresses(document)]
    assert len(addresses) >= 2 + len(served_schemas())  # two ports, an import of each file at least
    assert {a.rsplit("/", 1)[0] for a in addresses} == {"https://mra.example.cn/gateway/soap"}
    assert addresses.count("https://mra.example.cn/gateway/soap/v1") == 2


@pytest.mark.parametrize(
    "value",
    ["ftp://mra.example.cn", "mra.example.cn", "https://", "https://h/?q=1", "https://u:p@h", "https://h:x"],
)
def test_a_public_url_that_is_not_a_plain_base_url_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="EXCHANGE_PUBLIC_URL"):
        SoapSettings(public_url=value)


def test_a_request_host_header_never_reaches_the_contract(endpoint: Endpoint) -> None:
    hosts = ["evil.example.com", "evil.example.com:8443", 'evil"><x']
    for host in hosts:
        fetched = _fetch_contract(endpoint.url + "?wsdl", host=host)
        assert len(fetched) == 1 + len(served_schemas())
        for document in fetched.values():
            assert b"evil" not in etree.tostring(document)
            assert all(a.startswith(endpoint.server.base_url) for a in _addresses(document))
    print(
        f"Host header: {len(hosts)} hostile values, none echoed in {len(fetched) * len(hosts)} served files"
    )


@pytest.mark.parametrize(
    "path", ["/soap/partner-eu-1.0.xsd", "/soap/../soap/exchange-1.0.xsd", "/soap/%2e%2e/pyproject.toml",
             "/soap/", "/soap/exchange-1.0.wsdl.bak"]
)  # fmt: skip
def test_only_the_contracts_own_files_are_served(endpoint: Endpoint, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        _get(endpoint.server.base_url + path)
    assert caught.value.code == 404


def test_the_service_front_routes_the_contract_folder_to_the_soap_app() -> None:
    from exchange.http import build_front
    from exchange.metrics import Metrics

    seen: list[str] = []

    def soap(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        seen.append(str(environ["PATH_INFO"]))
        start_response("200 OK", [])
        return [b""]

    front = build_front(Metrics(), {}, soap, "/soap/v1")
    for path in ("/soap/v1", "/soap/exchange-1.0.xsd", "/soap/xmldsig-core-schema.xsd", "/soapy", "/other"):
        front({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, lambda *a: None)
    assert seen == ["/soap/v1", "/soap/exchange-1.0.xsd", "/soap/xmldsig-core-schema.xsd"]


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


def test_a_wildcard_listening_address_without_a_public_url_draws_a_warning(
    endpoint: Endpoint, endpoint_factory: EndpointFactory
) -> None:
    from exchange.soap.endpoint import contract_notice

    assert contract_notice(endpoint.app) == (endpoint.url + "?wsdl", None)
    endpoint.app.listening_at("http://0.0.0.0:8080")
    wsdl, warning = contract_notice(endpoint.app)
    assert (
        wsdl == "http://0.0.0.0:8080/soap/v1?wsdl"
        and warning is not None
        and "EXCHANGE_PUBLIC_URL" in warning
    )
    configured = endpoint_factory(settings=SoapSettings(public_url="https://mra.example.cn"))
    configured.app.listening_at("http://0.0.0.0:8080")  # the configured address stands
    assert contract_notice(configured.app) == ("https://mra.example.cn/soap/v1?wsdl", None)
