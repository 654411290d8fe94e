"""The only way the JSON formats read untrusted bytes: capped, strict, never recursive.

The size is capped before decoding; the standard decoder then runs with hooks that
refuse duplicate keys (the last one would silently win), NaN and Infinity (not JSON)
and numbers too large for a float; its own recursion guard stops pathological nesting
(RecursionError), and an iterative walk enforces the real depth cap and refuses lone
surrogates (they cannot be written back as UTF-8).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from exchange.errors import DocumentError

MAX_BYTES = 8 * 1024 * 1024
"""Same cap as the XML formats (exchange.xml.safe): `exchange validate` reads no more."""
MAX_DEPTH = 32
"""Our credentials nest about 9 levels deep; 32 is generous and far below recursion."""


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH


DEFAULT_JSON_LIMITS = JsonLimits()


class _Refused(ValueError):
    """Raised inside the decoder's hooks; becomes a DocumentError."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:40]} is out of range")
    return value


def loads(data: bytes, *, limits: JsonLimits = DEFAULT_JSON_LIMITS) -> Any:
    """Decode an untrusted JSON document; DocumentError on anything hostile or malformed."""
    if len(data) > limits.max_bytes:
        raise DocumentError(f"document too large: {len(data)} bytes, the limit is {limits.max_bytes}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8: byte {exc.start}: {exc.reason}") from None
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant, parse_float=_float)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except _Refused as exc:
        raise DocumentError(f"not accepted JSON: {exc}") from None
    except RecursionError:
        raise DocumentError(f"JSON nested more than {limits.max_depth} levels deep") from None
    except ValueError as exc:  # e.g. an integer literal longer than int() accepts
        raise DocumentError(f"not accepted JSON: {exc}") from None
    _check_tree(value, limits.max_depth)
    return value


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth cap and lone-surrogate check, iteratively (a deep tree cannot recurse here)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
            for key in node:
                _check_text(key)
        elif isinstance(node, list):
            children = node
        else:
            if isinstance(node, str):
                _check_text(node)
            continue
        if depth > max_depth:
            raise DocumentError(f"JSON nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in children)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise DocumentError("JSON text holds a lone surrogate (\\ud800-\\udfff)") from None
