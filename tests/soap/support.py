"""Helpers for the SOAP tests: the endpoint under test (exchange/soap/loopback.py),
partner documents, raw HTTP."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import zeep
from lxml import etree

from adapters.eu import format as eu_format
from adapters.nz import format as nz_format
from exchange.intake import CanonicalRecord
from exchange.model import ProductCertificate
from exchange.signing import Signer
from exchange.soap.loopback import AGREEMENTS, BINDINGS, SECRETS, USERNAMES, Endpoint, agreements
from tests import canonical_samples as samples

__all__ = ["AGREEMENTS", "BINDINGS", "SECRETS", "USERNAMES", "Endpoint", "agreements"]

MRA = "urn:mra-exchange:soap:1.0"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CONTENT_TYPES = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}


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
