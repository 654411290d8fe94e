"""Helpers for the SOAP tests: the endpoint under test, partner documents, raw HTTP."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zeep
from lxml import etree
from zeep.plugins import HistoryPlugin
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from adapters.eu import format as eu_format
from adapters.nz import format as nz_format
from exchange.audit import AuditStore, StoredEntry, open_store
from exchange.config import ExchangeConfig, load_config
from exchange.intake import CanonicalRecord
from exchange.model import ProductCertificate
from exchange.signing import KeyPairFiles, Signer
from exchange.soap import MemoryHandoff, RunningServer, SoapApp, SoapSettings, SoapStore, build_app, serve
from exchange.soap.handoff import Handoff
from exchange.soap.server import TlsSettings
from tests import canonical_samples as samples

MRA = "urn:mra-exchange:soap:1.0"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSDL_NS = "urn:mra-exchange:soap:1.0:wsdl"
BINDINGS = {"1.1": f"{{{WSDL_NS}}}ExchangeSoap11", "1.2": f"{{{WSDL_NS}}}ExchangeSoap12"}
CONTENT_TYPES = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
SECRETS = {"eu": "eu-shared-secret-0123456789", "nz": "nz-shared-secret-0123456789"}
USERNAMES = {"eu": "eu-mra", "nz": "nz"}

AGREEMENTS = """
source = "adapters.domestic:source"

[partners.eu]
name = "European Union (test)"
format = "adapters.eu:format"
families = ["ccc", "glp", "pt"]
transport = "soap"
[partners.eu.options]
soap_username = "eu-mra"
soap_secret_file = "eu.secret"
soap_certificate = "eu-cert.pem"

[partners.nz]
name = "New Zealand (test)"
format = "adapters.nz:format"
families = ["ccc"]
transport = "soap"
[partners.nz.scope.ccc]
sectors = ["ee"]
[partners.nz.options]
soap_secret_file = "nz.secret"
soap_certificate = "nz-cert.pem"
"""


def agreements(**extra_options: dict[str, object]) -> str:
    """AGREEMENTS with more options for some partners, e.g. nz={"soap_require_signature": True}."""
    text = AGREEMENTS
    for partner, options in extra_options.items():
        lines = "".join(f"{k} = {_toml(v)}\n" for k, v in options.items())
        marker = f"[partners.{partner}.options]\n"
        text = text.replace(marker, marker + lines)
    return text


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


@dataclass
class Endpoint:
    folder: Path
    config: ExchangeConfig
    server: RunningServer
    app: SoapApp
    audit: AuditStore
    store: SoapStore
    handoff: Handoff
    our_cert: bytes
    document: Document
    history: HistoryPlugin = field(default_factory=HistoryPlugin)

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/soap/v1"

    def service(
        self,
        partner: str = "nz",
        *,
        version: str = "1.1",
        secret: str | None = None,
        username: str | None = None,
        wsse: Any = None,
        transport: zeep.Transport | None = None,
    ) -> Any:
        """A zeep service proxy for one partner, PasswordDigest by default."""
        if wsse is None:
            wsse = UsernameToken(username or USERNAMES[partner], secret or SECRETS[partner], use_digest=True)
        kwargs: dict[str, Any] = {"wsse": wsse, "plugins": [self.history]}
        if transport is not None:
            kwargs["transport"] = transport
        client = zeep.Client(self.document, **kwargs)
        return client.create_service(BINDINGS[version], self.url)

    def raw_request(self, partner: str, operation: str, version: str = "1.1", **params: Any) -> bytes:
        """The envelope zeep would send (WS-Security included), for replays and edits."""
        client = zeep.Client(
            self.document, wsse=UsernameToken(USERNAMES[partner], SECRETS[partner], use_digest=True)
        )
        service = client.create_service(BINDINGS[version], self.url)
        return etree.tostring(client.create_message(service, operation, **params))

    def trail(self, message_id: str) -> list[str]:
        return [str(e.event) for e in self.audit.trace(message_id) if e.message_id == message_id]

    def rejections(self) -> list[StoredEntry]:
        return [e for e in self.audit.export(None, None) if str(e.event) == "REJECTED"]

    def last_rejection(self) -> StoredEntry:
        found = self.rejections()
        assert found, "nothing was audited as REJECTED"
        return found[-1]

    def close(self) -> None:
        self.server.stop()
        self.audit.close()
        self.store.close()


def start_endpoint(
    folder: Path,
    agreements_text: str,
    our_keys: KeyPairFiles,
    document: Document,
    *,
    handoff: Handoff | None = None,
    settings: SoapSettings | None = None,
    tls: TlsSettings | None = None,
) -> Endpoint:
    path = folder / "agreements.toml"
    path.write_text(agreements_text, encoding="utf-8")
    config = load_config(path)
    url = f"sqlite:///{folder / 'audit.db'}"
    audit, store = open_store(url), SoapStore(url)
    signer = Signer.from_files(our_keys.key, our_keys.certificate)
    handoff = handoff if handoff is not None else MemoryHandoff()
    app = build_app(config, audit=audit, store=store, handoff=handoff, signer=signer, settings=settings)
    server = serve(app, "127.0.0.1", 0, tls, threads=4)
    return Endpoint(folder, config, server, app, audit, store, handoff, signer.cert_pem, document)


# -- partner documents ------------------------------------------------------------------


def eess_record(**overrides: Any) -> ProductCertificate:
    data: dict[str, Any] = {"scheme": "EESS", "certNo": "NZ-ESS-2021-0042", "factories": [], **overrides}
    return samples.certificate(**data)


def nz_document(record: CanonicalRecord | None = None) -> bytes:
    return nz_format.convert(record or eess_record())


def eu_glp_document() -> bytes:
    return eu_format.convert(samples.glp_statement())


def eu_pt_document() -> bytes:
    return eu_format.convert(samples.pt_round())


def signed(document: bytes, signer: Signer) -> bytes:
    root = etree.fromstring(document)
    return etree.tostring(signer.sign(root), xml_declaration=True, encoding="utf-8")


# -- faults -------------------------------------------------------------------------------


def fault_code(exc: zeep.exceptions.Fault) -> str:
    assert exc.detail is not None, f"fault without detail: {exc.message}"
    code = exc.detail.findtext(f".//{{{MRA}}}Code")
    assert code, etree.tostring(exc.detail)
    return str(code)


def expect_fault(code: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> zeep.exceptions.Fault:
    try:
        call(*args, **kwargs)
    except zeep.exceptions.Fault as exc:
        assert fault_code(exc) == code, f"{fault_code(exc)}: {exc.message}"
        return exc
    raise AssertionError(f"no fault, expected {code}")


def problems(exc: zeep.exceptions.Fault) -> list[dict[str, str | None]]:
    assert exc.detail is not None
    return [
        {"line": p.get("line"), "path": p.get("path"), "message": p.text}
        for p in exc.detail.iter(f"{{{MRA}}}Problem")
    ]


# -- raw HTTP -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def fault(self) -> tuple[str, str]:
        """(mra code, SOAP fault code) of a fault response."""
        root = etree.fromstring(self.body)
        code = root.findtext(f".//{{{MRA}}}Code") or ""
        soap_code = (
            root.findtext(".//faultcode") or root.findtext(f".//{{{SOAP12}}}Code/{{{SOAP12}}}Value") or ""
        )
        return code, soap_code


def post(
    url: str,
    body: bytes | Iterable[bytes],
    *,
    content_type: str = CONTENT_TYPES["1.1"],
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> RawResponse:
    """One HTTP request on a fresh connection; an iterable body goes chunked."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        all_headers = {"Content-Type": content_type, **(headers or {})}
        chunked = not isinstance(body, bytes)
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                     headers=all_headers, encode_chunked=chunked)  # fmt: skip
        resp = conn.getresponse()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def envelope(payload: str, *, version: str = "1.1", header: str = "") -> bytes:
    ns = SOAP11 if version == "1.1" else SOAP12
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return (
        f'<s:Envelope xmlns:s="{ns}" xmlns:mra="{MRA}">{head}<s:Body>{payload}</s:Body></s:Envelope>'.encode()
    )
