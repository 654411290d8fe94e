"""Decoding one JSON record with a nesting cap, so a hostile `[[[[…` cannot recurse deep."""

from __future__ import annotations

import re
from typing import Any

import orjson

from adapters.domestic.limits import MAX_DEPTH
from exchange.errors import RecordError

# Everything up to the next bracket that is not inside a string: strings are skipped
# whole (escapes included), so brackets in names or reasons do not count.
SKIP_TO_BRACKET = re.compile(r'(?:[^\[\]{}"]+|"[^"\\]*(?:\\.[^"\\]*)*")*')


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """Deepest bracket nesting in `text`, counted only up to `limit` + 1."""
    # Fast path: the bracket count bounds the depth, and a normal record has ~10.
    if text.count("{") + text.count("[") <= limit:
        return 0
    depth = deepest = 0
    pos, end = 0, len(text)
    while True:
        pos = SKIP_TO_BRACKET.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= end or text[pos] == '"':  # end, or an unterminated string
            return deepest
        if text[pos] in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
        pos += 1


_NOT_PARSED = object()


def loads_utf8(raw: bytes) -> Any:
    """The JSON value in UTF-8 `raw` when it is plainly one (shallow, valid UTF-8 and
    JSON), skipping the decode to str; else a marker: decode and use loads_record,
    which gives the same value or says why there is none."""
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:  # the fast bound of nesting_depth
        return _NOT_PARSED
    try:
        return orjson.loads(raw)  # checks the UTF-8 as strictly as bytes.decode
    except orjson.JSONDecodeError:
        return _NOT_PARSED


def parsed(value: Any) -> bool:
    """Whether loads_utf8 gave a value (not its marker)."""
    return value is not _NOT_PARSED


def loads_record(text: str) -> Any:
    """The JSON value in `text`, or a RecordError saying why it is not one."""
    if nesting_depth(text) > MAX_DEPTH:
        raise RecordError(f"JSON nested more than {MAX_DEPTH} levels deep")
    try:
        return orjson.loads(text)  # the standard library's parser at a third of the cost
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # defensive: the depth check should have caught it
        raise RecordError("JSON nested too deeply") from None
