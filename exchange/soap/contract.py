"""The contract in schemas/soap/: the WSDL partners review and the XSDs it imports.

Served as shipped, except the WSDL's soap:address, which names where this server
answers. The request schema is compiled once and validates each operation's element.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from exchange.resources import schema_path
from exchange.xml.safe import hardened_parser
from exchange.xml.schema import CompiledSchema, load_schema

WSDL = "exchange-1.0.wsdl"
WSDL_NS = "urn:mra-exchange:soap:1.0:wsdl"
BINDINGS = {"1.1": f"{{{WSDL_NS}}}ExchangeSoap11", "1.2": f"{{{WSDL_NS}}}ExchangeSoap12"}
"""The WSDL's bindings by SOAP version, for partners' clients (zeep's create_service)."""
MESSAGES_XSD = "exchange-1.0.xsd"
SERVED_XSDS = frozenset({MESSAGES_XSD, "xmldsig-core-schema.xsd"})
_ADDRESS_NS = ("http://schemas.xmlsoap.org/wsdl/soap/", "http://schemas.xmlsoap.org/wsdl/soap12/")


def contract_path(name: str) -> Path:
    return schema_path("soap", name)


def client_document() -> Any:
    """The WSDL as zeep reads it (a zeep.wsdl.Document), for partners' clients: parse it
    once and share it between clients."""
    import zeep

    z: Any = zeep  # untyped library
    return z.wsdl.Document(str(contract_path(WSDL)), z.Transport())


def messages_schema() -> CompiledSchema:
    return load_schema(contract_path(MESSAGES_XSD))


@lru_cache(maxsize=16)  # bounded: the address may come from a request's Host header
def wsdl_for(address: str) -> bytes:
    """The WSDL with every port's address set to `address`."""
    tree = etree.parse(str(contract_path(WSDL)), parser=hardened_parser())
    for namespace in _ADDRESS_NS:
        for el in tree.iter(f"{{{namespace}}}address"):
            el.set("location", address)
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8")


@cache
def served_xsd(name: str) -> bytes | None:
    """An XSD the WSDL imports, by file name; None for anything else."""
    if name not in SERVED_XSDS:
        return None
    return contract_path(name).read_bytes()
