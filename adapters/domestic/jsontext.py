"""Decoding one JSON record with a nesting cap, so a hostile `[[[[…` cannot recurse deep."""

from __future__ import annotations

import json
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

# In text that is valid JSON, strings taken whole from the left are exactly its strings;
# one followed by a colon is a key.
_KEYS_TEXT = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?')
_KEYS_BYTES = re.compile(rb'"(?:[^"\\]|\\.)*"(\s*:)?')


def _keys_in_value(value: Any) -> int:
    count, stack = 0, [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            count += len(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def has_duplicate_key(text: str | bytes, value: Any) -> bool:
    """Whether an object in `text` (valid JSON, parsed to `value`) gives a key twice.

    Every key is followed by a colon outside strings, so the colons in the whole text are
    at least the keys given: when they equal the keys parsed, none was given twice (the
    usual case, and cheap). Otherwise the strings are walked to count the keys exactly."""
    parsed_keys = _keys_in_value(value)
    if isinstance(text, str):
        if text.count(":") == parsed_keys:
            return False
        return sum(1 for m in _KEYS_TEXT.finditer(text) if m.group(1)) != parsed_keys
    if text.count(b":") == parsed_keys:
        return False
    return sum(1 for m in _KEYS_BYTES.finditer(text) if m.group(1)) != parsed_keys


def _duplicate_key(text: str | bytes) -> str:
    """The first key that an object of `text` repeats (the standard parser names it)."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return found[0] if found else "?"


def refuse_duplicate_keys(text: str | bytes, value: Any) -> None:
    """RecordError naming the key when an object in `text` gives a key twice: the parser
    keeps the last value silently (a certStatus of 撤销 then 有效 would read as valid)."""
    if has_duplicate_key(text, value):
        key = _duplicate_key(text)
        raise RecordError(
            f"the key {key!r} appears twice in one object; which value holds is unknown", field=key
        )


def loads_utf8(raw: bytes) -> Any:
    """The JSON value in UTF-8 `raw` when it is plainly one (shallow, valid UTF-8 and
    JSON), skipping the decode to str; else a marker: decode and use loads_record,
    which gives the same value or says why there is none."""
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:  # the fast bound of nesting_depth
        return _NOT_PARSED
    try:
        value = orjson.loads(raw)  # checks the UTF-8 as strictly as bytes.decode
    except orjson.JSONDecodeError:
        return _NOT_PARSED
    if has_duplicate_key(raw, value):
        return _NOT_PARSED  # a key given twice: loads_record says which
    return value


def parsed(value: Any) -> bool:
    """Whether loads_utf8 gave a value (not its marker)."""
    return value is not _NOT_PARSED


def loads_record(text: str) -> Any:
    """The JSON value in `text`, or a RecordError saying why it is not one."""
    if nesting_depth(text) > MAX_DEPTH:
        raise RecordError(f"JSON nested more than {MAX_DEPTH} levels deep")
    try:
        value = orjson.loads(text)  # the standard library's parser at a third of the cost
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # defensive: the depth check should have caught it
        raise RecordError("JSON nested too deeply") from None
    refuse_duplicate_keys(text, value)
    return value
