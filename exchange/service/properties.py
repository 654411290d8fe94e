"""What a domestic message's AMQP properties may hold, checked at intake before anything else.

They come from outside like the body does, and travel further: the message id names
documents in partners' outboxes (XML), file names, audit exports and the console. So each
property has a stated pattern, and a message breaking one is rejected with its reason:

- message_id:   1-128 of A-Z a-z 0-9 . _ : - starting with a letter or digit, no ".."
                (so no formula prefixes = + - @, no markup, no paths, no control characters)
- type:         absent, or 1-16 lower-case letters (the record kind: ccc, glp, pt)
- content_type: absent, or a media type `type/subtype` with an optional `; charset=NAME`
- headers:      at most 32; names 1-64 of A-Z a-z 0-9 . _ - ; text values at most 1024
                characters, all XML 1.0 characters; values are text, numbers, booleans,
                timestamps, or lists and tables of those, nested at most 4 deep
                (the broker's own x-death and x-delivery-count pass as they are)
"""

from __future__ import annotations

import datetime
import decimal
import re
from dataclasses import dataclass
from typing import Any

from exchange.xml.chars import first_non_xml_char

MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
TYPE = re.compile(r"[a-z]{1,16}")
CONTENT_TYPE = re.compile(r"[a-z]+/[a-z0-9.+-]{1,64}(?:; ?charset=[A-Za-z0-9_-]{1,32})?")
HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_HEADERS = 32
MAX_TEXT = 1024
MAX_NESTING = 4
_BROKER_HEADERS = frozenset({"x-death", "x-first-death-exchange", "x-first-death-queue",
                             "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue",
                             "x-last-death-reason", "x-delivery-count"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class PropertyProblem:
    field: str
    reason: str


def _shown(text: str) -> str:
    """The offending value for a reason: escaped (no control characters), cut short."""
    return ascii(text[:80])


def id_part(text: str) -> str:
    """`text` made fit for a message id (a file name, say): runs of other characters become -."""
    cleaned = re.sub(r"[^A-Za-z0-9_:-]+", "-", text).strip("-_:")
    return cleaned[:64] or "record"


def check_message_id(value: str | None) -> PropertyProblem | None:
    if value is None or value == "":
        return PropertyProblem("message_id", "the message has no message_id property")
    if not MESSAGE_ID.fullmatch(value) or ".." in value:
        return PropertyProblem(
            "message_id",
            f"message_id {_shown(value)} does not match {MESSAGE_ID.pattern} (letters, digits, . _ : -)",
        )
    return None


def _check_value(name: str, value: Any, depth: int) -> str | None:
    if depth > MAX_NESTING:
        return f"header {name} is nested deeper than {MAX_NESTING}"
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return f"header {name} is not UTF-8 text"
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return f"header {name} is longer than {MAX_TEXT} characters"
        index = first_non_xml_char(value)
        if index is not None:
            return f"header {name} holds U+{ord(value[index]):04X}, which XML 1.0 does not allow"
        return None
    if value is None or isinstance(value, (bool, int, float, decimal.Decimal, datetime.datetime)):
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            if (problem := _check_value(name, item, depth + 1)) is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if (problem := _check_value(f"{name}.{key}", item, depth + 1)) is not None:
                return problem
        return None
    return f"header {name} has a value of type {type(value).__name__}"


def check_properties(
    message_id: str | None, type_: str | None, content_type: str | None, headers: dict[str, Any]
) -> PropertyProblem | None:
    """The first property that breaks its pattern, None when all hold."""
    if (problem := check_message_id(message_id)) is not None:
        return problem
    if type_ is not None and not TYPE.fullmatch(type_):
        return PropertyProblem("type", f"type {_shown(type_)} does not match {TYPE.pattern}")
    if content_type is not None and not CONTENT_TYPE.fullmatch(content_type):
        return PropertyProblem(
            "content_type", f"content_type {_shown(content_type)} is not a media type (type/subtype)"
        )
    if len(headers) > MAX_HEADERS:
        return PropertyProblem("headers", f"{len(headers)} headers; at most {MAX_HEADERS} are accepted")
    for name, value in headers.items():
        if name in _BROKER_HEADERS:
            continue
        if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
            return PropertyProblem(
                "headers", f"header name {_shown(str(name))} does not match {HEADER_NAME.pattern}"
            )
        if (why := _check_value(name, value, 1)) is not None:
            return PropertyProblem("headers", why)
    return None
