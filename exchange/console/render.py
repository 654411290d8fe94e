"""Documents pretty-printed for reading (downloads keep the exact bytes: signatures and
digests are over those)."""

from __future__ import annotations

import json

from lxml import etree

from exchange.errors import DocumentError
from exchange.xml.safe import parse_bytes


def pretty(body: bytes, content_type: str) -> str:
    """Indented JSON or XML; the text as it is when it is neither (or does not parse)."""
    text = body.decode("utf-8", "replace")
    head = body.lstrip()[:1]
    if "json" in content_type or head in (b"{", b"["):
        try:
            return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    if "xml" in content_type or head == b"<":
        try:
            root = parse_bytes(body)
        except DocumentError:
            return text
        etree.indent(root, space="  ")
        return etree.tostring(root, encoding="unicode", pretty_print=True)
    return text


def extension(content_type: str) -> str:
    if "json" in content_type:
        return "json"
    if "xml" in content_type:
        return "xml"
    return "bin"
