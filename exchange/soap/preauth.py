"""What an unauthenticated caller can make us parse: the SOAP Header alone, within a budget.

Authentication needs only the WS-Security header, which comes before the Body. So the
envelope is read incrementally from its start until the Body opens, and no further: at
most `max_bytes` of it, `max_elements` elements and `max_attributes` attributes and
namespace declarations. A request that breaks the budget is refused before anybody knows
who sent it, and the full parse (exchange/soap/envelope.py) happens only once the caller
is authenticated. An 8 MB envelope of 700,000 attributes from nobody costs 64 kB of parsing.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from exchange.soap import ns
from exchange.soap.envelope import SoapVersion, version_of_root
from exchange.soap.faults import FaultCode, SoapFault
from exchange.xml.safe import pull_parser

_CHUNK = 8192


@dataclass(frozen=True, slots=True)
class HeaderBudget:
    max_bytes: int = 64 * 1024
    max_elements: int = 200
    max_attributes: int = 400
    max_depth: int = 16


@dataclass(frozen=True, slots=True)
class Preamble:
    version: SoapVersion
    header: etree._Element | None


def _refuse(reason: str) -> SoapFault:
    return SoapFault(FaultCode.MALFORMED, f"the request is refused: {reason}")


def read_preamble(data: bytes, budget: HeaderBudget) -> Preamble:
    """The envelope's version and Header, parsed from the start of `data` up to the Body."""
    if b"<!DOCTYPE" in data[: budget.max_bytes]:
        raise _refuse("DOCTYPE declarations are not accepted (DTDs and entities are refused)")
    parser = pull_parser()
    elements = attributes = depth = 0
    version: SoapVersion | None = None
    header: etree._Element | None = None
    for offset in range(0, min(len(data), budget.max_bytes), _CHUNK):
        try:
            parser.feed(data[offset : min(offset + _CHUNK, budget.max_bytes)])
            events = list(parser.read_events())
        except etree.XMLSyntaxError as exc:
            raise _refuse(f"not well-formed XML: {exc.msg}") from None
        for event, el in events:
            if not isinstance(el, etree._Element):  # start-ns: a declaration costs as an attribute
                attributes += 1
                continue
            if event == "end":
                depth -= 1
                if version is not None and depth == 1 and el.tag == ns.q(version.namespace, "Header"):
                    header = el
                continue
            if ":" in el.tag and not el.tag.startswith("{"):  # libxml2 only warns of these
                raise _refuse(f"not well-formed XML: namespace prefix of {el.tag[:60]!r} is not defined")
            depth += 1
            elements += 1
            attributes += len(el.attrib)
            if elements > budget.max_elements or attributes > budget.max_attributes:
                raise _refuse("the SOAP Header is over the size allowed before authentication")
            if depth > budget.max_depth:
                raise _refuse(f"the SOAP Header is nested deeper than {budget.max_depth} elements")
            if version is None:
                docinfo = el.getroottree().docinfo
                if docinfo.doctype or docinfo.internalDTD is not None:  # type: ignore[attr-defined]
                    raise _refuse("DOCTYPE declarations are not accepted (DTDs and entities are refused)")
                version = version_of_root(el)
            elif depth == 2 and el.tag == ns.q(version.namespace, "Body"):
                return Preamble(version, header)
    if len(data) > budget.max_bytes:
        raise _refuse(f"the SOAP Body does not start within the first {budget.max_bytes} bytes")
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise _refuse(f"not well-formed XML: {exc.msg}") from None
    raise _refuse("the envelope has no SOAP Body")
