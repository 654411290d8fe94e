"""What an operation handler gets: the service's parts (Services) and one request (Call)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from exchange.audit import AuditStore
from exchange.config import ExchangeConfig
from exchange.partner import PartnerFormat
from exchange.service.store import SoapStore
from exchange.signing import Signer
from exchange.soap import ns
from exchange.soap.credentials import PartnerCredential
from exchange.soap.handoff import Handoff
from exchange.xml.safe import Limits


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    config: ExchangeConfig
    audit: AuditStore
    store: SoapStore
    handoff: Handoff
    signer: Signer
    formats: Mapping[str, PartnerFormat]
    """The formats of the SOAP partners, by partner."""
    document_limits: Limits
    now: Callable[[], datetime] = field(default=utc_now)


@dataclass(frozen=True, slots=True)
class Call:
    request_id: str
    credential: PartnerCredential
    payload: etree._Element
    """The operation's element, already valid against schemas/soap/exchange-1.0.xsd."""

    @property
    def partner(self) -> str:
        return self.credential.partner

    @property
    def actor(self) -> str:
        return f"soap:{self.partner}"

    def text(self, name: str) -> str | None:
        value = self.payload.findtext(ns.mra(name))
        return None if value is None else value.strip()

    def texts(self, name: str) -> list[str]:
        return [(el.text or "").strip() for el in self.payload.iterfind(ns.mra(name))]


Handler = Callable[[Services, Call], etree._Element]


def element(name: str, *children: tuple[str, object | None]) -> etree._Element:
    """An mra element with simple children in order; None values are left out."""
    el = etree.Element(ns.mra(name), nsmap={"mra": ns.MRA})
    add(el, *children)
    return el


def add(parent: etree._Element, *children: tuple[str, object | None]) -> None:
    for child, value in children:
        if value is not None:
            etree.SubElement(parent, ns.mra(child)).text = xml_text(value)


def xml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)
