"""The hardened parser refuses hostile documents with clear errors and never hangs."""

from __future__ import annotations

import pytest

from exchange.errors import DocumentError
from exchange.xml.safe import Limits, parse_bytes

XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>'


@pytest.mark.parametrize("document", [XXE, BILLION_LAUGHS, EXTERNAL_DTD], ids=["xxe", "laughs", "dtd"])
def test_doctype_is_refused(document: bytes) -> None:
    with pytest.raises(DocumentError, match="DOCTYPE"):
        parse_bytes(document)


def test_xxe_never_reads_the_file() -> None:
    with pytest.raises(DocumentError) as caught:
        parse_bytes(XXE)
    assert "root:" not in str(caught.value)


def test_deep_nesting_is_refused_by_our_limit() -> None:
    deep = b"<a>" * 60 + b"</a>" * 60
    with pytest.raises(DocumentError, match="nested deeper than 48"):
        parse_bytes(deep)
    assert parse_bytes(deep, limits=Limits(max_depth=100)).tag == "a"


def test_size_is_capped_before_parsing() -> None:
    with pytest.raises(DocumentError, match="too large"):
        parse_bytes(b"<a>" + b"x" * 2000 + b"</a>", limits=Limits(max_bytes=1000))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"", "empty"),
        (b"<a><b></a>", "line 1"),
        (b"\xff\xfe<\x00a\x00", "not well-formed"),
        (b'<?xml version="1.0" encoding="klingon"?><a/>', "not well-formed"),
        (b"plain text", "not well-formed"),
    ],
)
def test_malformed_documents_say_why(document: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        parse_bytes(document)


def test_a_well_formed_document_parses() -> None:
    root = parse_bytes('<a xmlns="urn:x"><b>中文</b></a>'.encode())
    assert root[0].text == "中文"
