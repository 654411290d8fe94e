"""The only way the project parses XML: hardened explicitly, never by library defaults.

Every parser here sets resolve_entities=False, no_network=True, load_dtd=False and
huge_tree=False itself, refuses any DOCTYPE (no internal subset means no entity
bombs and no XXE), caps the size before parsing and the nesting depth while parsing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from lxml import etree

from exchange.errors import DocumentError

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 48


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH


DEFAULT_LIMITS = Limits()
_NO_DOCTYPE = "DOCTYPE declarations are not accepted (DTDs and entities are refused)"

_PARSER_OPTIONS: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def hardened_parser() -> etree.XMLParser:
    """A parser for trusted-shape files (our own XSDs and templates), hardened the same way."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def pull_parser() -> etree.XMLPullParser:
    """An incremental parser (start, end and start-ns events), hardened like the others:
    for reading only the beginning of an untrusted document (see exchange/soap/preauth.py)."""
    return etree.XMLPullParser(
        events=("start", "end", "start-ns"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_bytes(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """Parse an untrusted document; DocumentError on anything hostile or malformed."""
    if len(data) > limits.max_bytes:
        raise DocumentError(f"document too large: {len(data)} bytes, the limit is {limits.max_bytes}")
    if not data.strip():
        raise DocumentError("document is empty")
    if b"<!DOCTYPE" in data[:65536]:  # fail fast; the check after parsing covers other encodings
        raise DocumentError(_NO_DOCTYPE)
    depth = 0
    context = etree.iterparse(io.BytesIO(data), events=("start", "end"), **_PARSER_OPTIONS)
    try:
        for event, _ in context:
            if event == "start":
                depth += 1
                if depth > limits.max_depth:
                    raise DocumentError(f"document nested deeper than {limits.max_depth} elements")
            else:
                depth -= 1
        root: etree._Element = context.root
    except etree.XMLSyntaxError as exc:
        raise DocumentError(f"not well-formed XML: {_syntax_message(exc)}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # type: ignore[attr-defined]  # stubs lag lxml
        raise DocumentError(_NO_DOCTYPE)
    return root


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    line, column = exc.position if exc.position else (0, 0)
    msg = str(exc.msg or exc).strip()
    return f"line {line}:{column}: {msg}"


def parse_file(path: str, *, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """Read a file with the size cap applied before any parsing work."""
    with open(path, "rb") as fh:
        data = fh.read(limits.max_bytes + 1)
    return parse_bytes(data, limits=limits)
