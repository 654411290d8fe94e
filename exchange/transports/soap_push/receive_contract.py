"""Which WSDL a push partner's receiving service speaks: chosen by its agreement, not by code.

`schemas/soap/partner-receive-1.0.wsdl` is the partner-neutral contract we publish for any
partner to implement. A partner whose own contract ships with us (a file
`schemas/soap/partner-<p>-1.0.wsdl`) keeps it; `soap_wsdl` in the agreement's options names
another one (a file in schemas/soap/, or a path, relative to the agreements file). What the
client needs to know of the WSDL, the binding and the namespace of the messages, is read
from the WSDL itself (`soap_binding` chooses when it has more than one SOAP 1.1 binding), so
a partner's contract is a file, never a table in the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from exchange.config import Agreement
from exchange.errors import ConfigError
from exchange.soap.contract import contract_path
from exchange.xml.safe import hardened_parser

NEUTRAL_WSDL = "partner-receive-1.0.wsdl"
OPERATION = "ReceiveDocument"
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_SOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"


@dataclass(frozen=True, slots=True)
class ReceiveContract:
    wsdl: Path
    binding: str
    """The binding's qualified name, {namespace}name, as zeep's create_service takes it."""
    namespace: str
    """The namespace of the messages (ReceiveDocument, MessageInfo, Receipt, FaultDetail)."""

    def q(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}"


def default_wsdl(partner: str) -> Path:
    """The partner's own shipped contract when there is one, else the neutral one."""
    own = contract_path(f"partner-{partner}-1.0.wsdl")
    return own if own.is_file() else contract_path(NEUTRAL_WSDL)


def wsdl_of(agreement: Agreement, base: Path | None = None) -> Path:
    """The WSDL an agreement names (soap_wsdl), or the default for its partner."""
    named = agreement.options.get("soap_wsdl")
    if named is None or named == "":
        return default_wsdl(agreement.partner)
    text = str(named)
    shipped = contract_path(text)
    if "/" not in text and "\\" not in text and shipped.is_file():
        return shipped
    path = Path(text)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise ConfigError(
            f"partners.{agreement.partner}.options.soap_wsdl: {text!r} is neither a file in "
            f"schemas/soap/ nor a file at {path}"
        )
    return path


def contract_of(agreement: Agreement, base: Path | None = None) -> ReceiveContract:
    binding = agreement.options.get("soap_binding")
    return read_contract(wsdl_of(agreement, base), str(binding) if binding else None)


def read_contract(wsdl: Path, binding: str | None = None) -> ReceiveContract:
    """Binding and message namespace of a receiving-service WSDL; ConfigError naming the
    file when it does not describe one (no SOAP 1.1 binding with ReceiveDocument)."""
    try:
        root = etree.parse(str(wsdl), parser=hardened_parser()).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ConfigError(f"{wsdl}: cannot read the WSDL: {exc}") from None
    tns = root.get("targetNamespace", "")
    bindings = [b for b in root.findall(f"{{{_WSDL}}}binding") if b.find(f"{{{_SOAP11}}}binding") is not None]
    names = [f"{{{tns}}}{b.get('name')}" for b in bindings]
    if binding is not None:
        chosen = [b for b, n in zip(bindings, names, strict=True) if binding in (n, b.get("name"))]
    else:
        chosen = bindings
    if len(chosen) != 1:
        raise ConfigError(
            f"{wsdl}: {'more than one SOAP 1.1 binding' if chosen else 'no SOAP 1.1 binding'}"
            + (f" named {binding!r}" if binding else "")
            + f" (found: {', '.join(names) or 'none'}; soap_binding chooses one)"
        )
    element = _input_element(root, chosen[0])
    if element is None:
        raise ConfigError(f"{wsdl}: the binding {chosen[0].get('name')} has no {OPERATION} operation")
    return ReceiveContract(wsdl, f"{{{tns}}}{chosen[0].get('name')}", element)


def _input_element(root: etree._Element, binding: etree._Element) -> str | None:
    """The namespace of the element the operation's input `parameters` part carries."""
    port_name = _local(binding.get("type", ""))
    port = next((p for p in root.findall(f"{{{_WSDL}}}portType") if p.get("name") == port_name), None)
    if port is None:
        return None
    operation = next((o for o in port.findall(f"{{{_WSDL}}}operation") if o.get("name") == OPERATION), None)
    given = None if operation is None else operation.find(f"{{{_WSDL}}}input")
    if given is None:
        return None
    message_name = _local(given.get("message", ""))
    message = next((m for m in root.findall(f"{{{_WSDL}}}message") if m.get("name") == message_name), None)
    if message is None:
        return None
    for part in message.findall(f"{{{_WSDL}}}part"):
        element = part.get("element", "")
        prefix, _, local = element.rpartition(":")
        if local == OPERATION:
            namespace = part.nsmap.get(prefix or None)
            return namespace
    return None


def _local(qname: str) -> str:
    return qname.rpartition(":")[2]
