"""JSON Schemas (Draft 2020-12), checked by `jsonschema` and compiled to closures once.

`jsonschema` is the authority: it checks each schema when it is loaded and writes the
error messages (with JSON paths) for a document that fails. Its validator costs about
a millisecond per credential, though, ten times the per-record budget, so the hot path
runs the same schema compiled here into nested closures (tens of microseconds). The
compiler implements exactly the keywords the schemas use and refuses any other one at
load time, so an unsupported keyword can never be silently ignored. When the compiled
check fails, `jsonschema` is asked why; the tests check both agree on valid and on
tampered documents.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from exchange.errors import ConfigError, DocumentError

MAX_MESSAGES = 20
Check = Callable[[Any], bool]

ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default"}
)
KEYWORDS = frozenset(
    {
        "type", "const", "enum", "pattern", "minLength", "maxLength",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "properties", "required", "additionalProperties", "dependentRequired",
        "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains",
        "if", "then", "else", "not", "anyOf", "oneOf", "allOf", "$ref",
    }
)  # fmt: skip


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _is_integer(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer())


_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema defines it: true is not 1, 1 is 1.0, containers deeply."""
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return a is None and b is None


class _Compiler:
    def __init__(self, root: dict[str, Any], where: str):
        self.root, self.where = root, where
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any, at: str) -> Check:
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        if not isinstance(schema, dict):
            raise ConfigError(f"{self.where}: {at} is not a schema")
        unknown = set(schema) - KEYWORDS - ANNOTATIONS
        if unknown:
            raise ConfigError(
                f"{self.where}: {at} uses {sorted(unknown)}, which the compiled validator "
                "does not implement (add it to adapters/bri/schema.py, with tests)"
            )
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"], at))
        kind: Any = schema.get("type")
        string = self._string(schema)
        obj = self._object(schema, at, typed=kind == "object")
        arr = self._array(schema, at, typed=kind == "array")
        # The keywords of the schema's own type fuse with the type test into one closure;
        # other types' keywords only apply to values of that type.
        own = {"string": string[1] if string else None, "object": obj, "array": arr}
        fused = own[kind] if isinstance(kind, str) and kind in own else None
        if fused is not None:
            checks.append(fused)
        elif "type" in schema:
            names: list[str] = kind if isinstance(kind, list) else [kind]
            tests = [_TYPES[n] for n in names]
            checks.append(tests[0] if len(tests) == 1 else lambda x: any(t(x) for t in tests))
        for name, extra in (
            ("string", string[0] if string else None),
            ("object", obj),
            ("array", arr),
        ):
            if extra is not None and not (fused is not None and name == kind):
                checks.append(extra)
        if "const" in schema:
            checks.append(_const(schema["const"]))
        if "enum" in schema:
            checks.append(_enum(schema["enum"]))
        number = _number(schema)
        if number is not None:
            checks.append(number)
        checks += self._logic(schema, at)
        if not checks:
            return lambda x: True
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:
            first, second = checks
            return lambda x: first(x) and second(x)
        return lambda x: all(c(x) for c in checks)

    def _ref(self, ref: str, at: str) -> Check:
        if not ref.startswith("#/$defs/"):
            raise ConfigError(f"{self.where}: {at}: only local #/$defs/ references are compiled")
        name = ref[len("#/$defs/") :]
        if name not in self.root.get("$defs", {}):
            raise ConfigError(f"{self.where}: {at}: {ref} is not defined")
        if name not in self.refs:
            box: list[Check] = []
            self.refs[name] = lambda x: box[0](x)  # what a recursive reference gets meanwhile
            box.append(self.compile(self.root["$defs"][name], ref))
            self.refs[name] = box[0]
        return self.refs[name]

    def _string(self, s: dict[str, Any]) -> tuple[Check, Check] | None:
        """(check if a string, check that it is a string): length and pattern."""
        lo, hi, pat = s.get("minLength", 0), s.get("maxLength"), s.get("pattern")
        if lo == 0 and hi is None and pat is None:
            return None
        search = re.compile(pat).search if pat is not None else None
        top = math.inf if hi is None else hi

        def if_string(x: Any) -> bool:
            if not isinstance(x, str):
                return True
            return lo <= len(x) <= top and (search is None or search(x) is not None)

        def string(x: Any) -> bool:
            if not isinstance(x, str):
                return False
            return lo <= len(x) <= top and (search is None or search(x) is not None)

        return if_string, string

    def _object(self, s: dict[str, Any], at: str, *, typed: bool) -> Check | None:
        """Object keywords; `typed`: the schema says type object, so non-objects fail."""
        keys = ("properties", "required", "additionalProperties", "dependentRequired")
        if not any(k in s for k in keys):
            return None
        props = {k: self.compile(v, f"{at}/properties/{k}") for k, v in s.get("properties", {}).items()}
        known = frozenset(props)
        required = frozenset(s.get("required", ()))
        extra_schema = s.get("additionalProperties", True)
        closed = extra_schema is False
        extra = None if extra_schema in (True, False) else self.compile(extra_schema, at)
        dependent = [(k, frozenset(v)) for k, v in s.get("dependentRequired", {}).items()]
        other = not typed

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return other
            keys = x.keys()
            if not keys >= required or (closed and not keys <= known):
                return False
            for key, value in x.items():
                test = props.get(key)
                if test is None:
                    if extra is not None and not extra(value):
                        return False
                elif not test(value):
                    return False
            return all(key not in x or keys >= needs for key, needs in dependent)

        return check

    def _array(self, s: dict[str, Any], at: str, *, typed: bool) -> Check | None:
        """Array keywords; `typed`: the schema says type array, so non-arrays fail."""
        keys = ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains")
        if not any(k in s for k in keys):
            return None
        prefix = [self.compile(p, f"{at}/prefixItems") for p in s.get("prefixItems", [])]
        rest_schema = s.get("items", True)
        rest = None if rest_schema is True else self.compile(rest_schema, f"{at}/items")
        lo, hi = s.get("minItems", 0), s.get("maxItems", math.inf)
        unique = bool(s.get("uniqueItems", False))
        contains = self.compile(s["contains"], f"{at}/contains") if "contains" in s else None
        n = len(prefix)
        other = not typed

        def check(x: Any) -> bool:
            if not isinstance(x, list):
                return other
            if not lo <= len(x) <= hi:
                return False
            for test, value in zip(prefix, x, strict=False):
                if not test(value):
                    return False
            if rest is not None:
                for value in x[n:] if n else x:
                    if not rest(value):
                        return False
            if contains is not None and not any(contains(v) for v in x):
                return False
            if unique:
                for i, a in enumerate(x):
                    if any(json_equal(a, b) for b in x[i + 1 :]):
                        return False
            return True

        return check

    def _logic(self, s: dict[str, Any], at: str) -> list[Check]:
        out: list[Check] = []
        if "if" in s:
            cond = self.compile(s["if"], f"{at}/if")
            then = self.compile(s.get("then", True), f"{at}/then")
            orelse = self.compile(s.get("else", True), f"{at}/else")
            out.append(lambda x: then(x) if cond(x) else orelse(x))
        if "not" in s:
            inner = self.compile(s["not"], f"{at}/not")
            out.append(lambda x: not inner(x))
        if "allOf" in s:
            all_of = [self.compile(p, f"{at}/allOf") for p in s["allOf"]]
            out.append(lambda x: all(t(x) for t in all_of))
        if "anyOf" in s:
            any_of = [self.compile(p, f"{at}/anyOf") for p in s["anyOf"]]
            out.append(lambda x: any(t(x) for t in any_of))
        if "oneOf" in s:
            one_of = [self.compile(p, f"{at}/oneOf") for p in s["oneOf"]]
            out.append(lambda x: sum(1 for t in one_of if t(x)) == 1)
        return out


def _only_text(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_only_text(v) for v in value.values())
    if isinstance(value, list):
        return all(_only_text(v) for v in value)
    return isinstance(value, str)


def _const(value: Any) -> Check:
    if isinstance(value, str):
        return lambda x: isinstance(x, str) and x == value
    if _only_text(value):
        # Strings only (in lists and objects): Python equality is JSON equality here,
        # since no number or boolean can equal a string.
        return lambda x: bool(x == value)
    return lambda x: json_equal(x, value)


def _enum(values: list[Any]) -> Check:
    if all(isinstance(v, str) for v in values):
        allowed = frozenset(values)
        return lambda x: isinstance(x, str) and x in allowed
    return lambda x: any(json_equal(x, v) for v in values)


def _number(s: dict[str, Any]) -> Check | None:
    bounds = [(k, s[k]) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in s]
    if not bounds:
        return None
    lo = s.get("minimum", -math.inf)
    hi = s.get("maximum", math.inf)
    xlo = s.get("exclusiveMinimum", -math.inf)
    xhi = s.get("exclusiveMaximum", math.inf)

    def check(x: Any) -> bool:
        if not _is_number(x):
            return True
        return bool(lo <= x <= hi and xlo < x < xhi)

    return check


class CompiledJsonSchema:
    """One JSON Schema file: checked by jsonschema, compiled to closures, both kept."""

    def __init__(
        self, path: Path, *, unrequire: frozenset[str] = frozenset(), only: frozenset[str] | None = None
    ):
        """`unrequire`: top-level properties made optional (a draft that a later step
        completes, e.g. a credential before its status entries are issued). `only`: the
        schema of just these top-level properties (what that later step adds)."""
        self.path = path
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            if unrequire and isinstance(schema.get("required"), list):
                schema["required"] = [r for r in schema["required"] if r not in unrequire]
            if only is not None:
                schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k in only}
                schema["required"] = [r for r in schema.get("required", []) if r in only]
            Draft202012Validator.check_schema(schema)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"schema {path} cannot be read: {exc}") from None
        except SchemaError as exc:
            raise ConfigError(f"schema {path} is not a valid JSON Schema: {exc.message}") from None
        self.id: str = schema.get("$id", "")
        if not self.id:
            raise ConfigError(f"schema {path} has no $id (the profile URI of its documents)")
        self.validator = Draft202012Validator(schema)
        self.properties: frozenset[str] = frozenset(schema.get("properties", {}))
        """The top-level properties the schema names."""
        self.is_valid: Check = _Compiler(schema, str(path)).compile(schema, "#")

    def check(self, document: Any) -> None:
        if self.is_valid(document):
            return
        messages = self.messages(document)
        if not messages:  # the compiled check is stricter than jsonschema: never happens
            return  # in the tests; jsonschema has the last word
        raise DocumentError(
            f"does not conform to {self.path.parent.name}/{self.path.name}", messages=messages
        )

    def messages(self, document: Any) -> list[str]:
        """Readable errors, each led by the JSON path of the offending value."""
        errors = sorted(self.validator.iter_errors(document), key=lambda e: [str(p) for p in e.path])
        return [_message(e) for e in errors[:MAX_MESSAGES]]


def _message(error: ValidationError) -> str:
    message = error.message
    if len(message) > 300:
        message = message[:300] + "…"
    return f"{error.json_path}: {message}"
