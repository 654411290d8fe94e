"""Documents are shown indented; what does not parse is shown as it is."""

from __future__ import annotations

from exchange.console.render import extension, pretty


def test_json_and_xml_are_indented() -> None:
    assert pretty(b'{"a":{"b":[1,2]},"c":"\xc3\xa9"}', "application/ld+json") == (
        '{\n  "a": {\n    "b": [\n      1,\n      2\n    ]\n  },\n  "c": "é"\n}'
    )
    assert pretty(b"<a><b>x</b><c/></a>", "application/xml") == "<a>\n  <b>x</b>\n  <c/>\n</a>\n"


def test_what_does_not_parse_or_is_hostile_is_shown_verbatim() -> None:
    assert pretty(b"{not json", "application/json") == "{not json"
    bomb = b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    assert pretty(bomb, "application/xml") == bomb.decode()  # never expanded
    assert pretty(b"plain", "text/plain") == "plain"
    assert (extension("application/ld+json"), extension("text/xml"), extension("x/y")) == (
        "json",
        "xml",
        "bin",
    )
