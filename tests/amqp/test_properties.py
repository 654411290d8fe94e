"""Issue 13, finding 3: AMQP properties are input too. Each has a stated pattern
(exchange/amqp/properties.py); these are the ids an attacker tried, and what must still pass."""

from __future__ import annotations

import datetime

import pytest

from exchange.service.properties import check_properties, id_part

HOSTILE_IDS = [
    "abc\x01def",
    "line\nbreak",
    '=HYPERLINK("http://evil.example/","click")',
    "+cmd",
    "-2+3",
    "@SUM(A1)",
    '<img src=x onerror="alert(1)">',
    "../../etc/passwd",
    "a/../../b",
    "a..b",
    "x" * 129,
    " leading-space",
    "证书-1",
    "",
    None,
]


@pytest.mark.parametrize("mid", HOSTILE_IDS)
def test_hostile_message_ids_are_refused_with_the_pattern(mid: str | None) -> None:
    problem = check_properties(mid, "ccc", "application/json", {})
    assert problem is not None and problem.field == "message_id"
    assert "\x01" not in problem.reason and "\n" not in problem.reason  # shown escaped


@pytest.mark.parametrize(
    "mid",
    ["ccc-1d2e3f4a5b6c7d8e", "kr:KC-2021-0042", "dup-0", "3f1c2a6e-8b7d-4e1a-9c1b-2d3e4f5a6b7c", "a.b_c"],
)
def test_ordinary_ids_pass(mid: str) -> None:
    assert check_properties(mid, "ccc", "application/json; charset=utf-8", {"partners": ["eu", "kr"]}) is None


@pytest.mark.parametrize(
    ("type_", "content_type", "headers", "field", "words"),
    [
        ("CCC\x00", None, {}, "type", "does not match"),
        ("ccc", "text/html<script>", {}, "content_type", "not a media type"),
        ("ccc", None, {"partners": "eu\x0b"}, "headers", "U+000B"),
        ("ccc", None, {"bad name": "x"}, "headers", "header name"),
        ("ccc", None, {"note": "y" * 2000}, "headers", "longer than"),
        ("ccc", None, {"deep": [[[[["x"]]]]]}, "headers", "nested deeper"),
        ("ccc", None, {f"h{i}": 1 for i in range(40)}, "headers", "at most 32"),
        ("ccc", None, {"blob": b"\xff\xfe"}, "headers", "not UTF-8"),
    ],
)
def test_other_properties_break_their_patterns(
    type_: str, content_type: str | None, headers: dict[str, object], field: str, words: str
) -> None:
    problem = check_properties("ok-1", type_, content_type, headers)
    assert problem is not None and problem.field == field and words in problem.reason


def test_the_brokers_own_headers_pass() -> None:
    death = [{"count": 1, "reason": "rejected", "queue": "mra.intake", "time": datetime.datetime.now()}]
    assert check_properties("ok-1", "ccc", None, {"x-death": death, "x-delivery-count": 2}) is None


def test_file_names_become_sound_id_parts() -> None:
    assert id_part("ccc-export-gb18030") == "ccc-export-gb18030"
    assert id_part("=evil file (1)") == "evil-file-1"
    assert id_part("../../x") == "x"
    assert id_part("证书") == "record"
    assert check_properties(f"{id_part('my export..v2')}-abcdef", None, None, {}) is None
