"""The contract in schemas/soap/: the WSDL partners review and every XSD it imports.

Served as shipped, except for addresses: the WSDL's soap:address names the endpoint and
every import location (`schemaLocation`, `wsdl:import location`) names the served copy,
both built from the public URL of the service (configuration, never a request header).
What is served is what the WSDL reaches through its imports, found by following them, so
a schema added to the contract is served without a list to keep in step. The request
schema is compiled once and validates each operation's element.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree

from exchange.resources import schema_path
from exchange.xml.schema import CompiledSchema, load_schema

WSDL = "exchange-1.0.wsdl"
WSDL_NS = "urn:mra-exchange:soap:1.0:wsdl"
BINDINGS = {"1.1": f"{{{WSDL_NS}}}ExchangeSoap11", "1.2": f"{{{WSDL_NS}}}ExchangeSoap12"}
"""The WSDL's bindings by SOAP version, for partners' clients (zeep's create_service)."""
MESSAGES_XSD = "exchange-1.0.xsd"
_ADDRESS_NS = ("http://schemas.xmlsoap.org/wsdl/soap/", "http://schemas.xmlsoap.org/wsdl/soap12/")
_XS = "http://www.w3.org/2001/XMLSchema"
_IMPORTS = {  # element -> the attribute that names the imported file
    f"{{{_XS}}}import": "schemaLocation",
    f"{{{_XS}}}include": "schemaLocation",
    f"{{{_XS}}}redefine": "schemaLocation",
    "{http://schemas.xmlsoap.org/wsdl/}import": "location",
}


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


def _local_import(location: str | None) -> str | None:
    """A file name beside the WSDL (what we serve), or None for anything else."""
    if not location or "/" in location or "\\" in location or location.startswith("."):
        return None
    return location if contract_path(location).is_file() else None


def _parse(name: str) -> etree._ElementTree:
    """Our own files, comments kept (partners read them), no DTD, no entities, no network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_pis=True)
    return etree.parse(str(contract_path(name)), parser=parser)


@cache
def served_schemas() -> frozenset[str]:
    """Every file the WSDL imports, directly or through the schemas it imports."""
    found: set[str] = set()
    todo = [WSDL]
    while todo:
        tree = _parse(todo.pop())
        for tag, attribute in _IMPORTS.items():
            for el in tree.iter(tag):
                name = _local_import(el.get(attribute))
                if name is not None and name not in found and name != WSDL:
                    found.add(name)
                    todo.append(name)
    return frozenset(found)


def _with_addresses(name: str, imports_base: str) -> etree._ElementTree:
    """The shipped file with each import of a served file pointing at `imports_base`."""
    tree = _parse(name)
    for tag, attribute in _IMPORTS.items():
        for el in tree.iter(tag):
            local = _local_import(el.get(attribute))
            if local is not None and local in served_schemas():
                el.set(attribute, imports_base + local)
    return tree


@lru_cache(maxsize=8)
def wsdl_for(address: str, imports_base: str) -> bytes:
    """The WSDL with every port's address set to `address` and its imports under `imports_base`."""
    tree = _with_addresses(WSDL, imports_base)
    for namespace in _ADDRESS_NS:
        for el in tree.iter(f"{{{namespace}}}address"):
            el.set("location", address)
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8")


@lru_cache(maxsize=16)
def served_xsd(name: str, imports_base: str) -> bytes | None:
    """An XSD the WSDL imports, by file name, its own imports under `imports_base`; None
    for any other name."""
    if name not in served_schemas() or PurePosixPath(name).name != name:
        return None
    tree = _with_addresses(name, imports_base)
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8")
