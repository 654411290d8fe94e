"""Declarative JSON templates: one JSON document per family renders a partner document
from a canonical record and reads it back.

A template is the partner document itself; objects with a directive key fill in values.
Paths are canonical attribute names (snake_case, dotted) relative to the current
context; "." is the context itself and a leading "/" starts again from the record.

- Plain JSON (no directive keys) is a constant, copied fresh into every document.
- "text {path|codes} text": a string with placeholders, formatted as text. A string that
  is exactly "{path}" yields the value itself, JSON-typed (numbers stay numbers). With
  one placeholder the string reads back (the literal text around it is stripped); with
  several it is render-only. "{{" and "}}" are literal braces.
- {"$value": "path", "$codes": "list", "$as": "boolean"}: the value at path, through a
  code list if given; "$as" ("string", "boolean", "integer", "number") types the code
  list's text as JSON.
- {"$text": "… {path} …"}: a placeholder string that takes the flags below.
- {"$each": "path", "$item": T}: a list, T rendered for every item of the list at path.
- {"$with": "path", "$item": T}: T rendered with the value at path as its context.
- {"$if": "path", "$then": T, "$else": C}: T when the value at path is not empty, else
  the constant C (or nothing).
- {"$uuid5": "… {path} …"}: "urn:uuid:" + the UUID 5 of the text in the format's id
  namespace: the same record always gets the same identifier. Render-only.
- {"$shared": "name"}: a constant defined once in the manifest (e.g. the issuer).
- {"$const": X}: X as it is, even where it looks like a directive.
- Flags: "$optional": true omits the key (or list item) when the value is empty instead
  of failing with MappingError; "$out": true renders but never reads back (derived
  values such as names looked up from codes). "$comment" is ignored everywhere.

Reading back: a list written literally in the template (not "$each") holds a fixed set of
entries; document entries are matched to template entries by their constant keys (e.g.
"metricName": "z"), so optional entries may be missing in any position.

Templates compile once into a tree of nodes; rendering is a walk of that tree, and every
path is checked against the canonical model when the template is compiled.
"""

from __future__ import annotations

import operator
import re
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from exchange.errors import ConfigError, DocumentError, MappingError, RecordError
from exchange.mapping.codes import CodeList


class _Absent:
    """Marks a value left out of the document (optional and empty)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
DIRECTIVES = frozenset({"$value", "$text", "$each", "$with", "$if", "$uuid5", "$shared", "$const"})
FLAGS = frozenset({"$codes", "$as", "$item", "$then", "$else", "$optional", "$out", "$comment"})
_AS = {"string": str, "boolean": bool, "integer": int, "number": float}
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
Getter = Callable[[Any], Any]


def is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list) and not value)


def json_value(value: Any) -> Any:
    """Canonical value -> JSON value: enums by value, dates ISO 8601, the rest as they are."""
    if type(value) is str:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise TypeError(f"cannot put a {type(value).__name__} into a JSON document")


def text_value(value: Any) -> str:
    """Canonical (or JSON) value -> the text used in strings and as a code-list key."""
    value = json_value(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _copier(value: Any) -> Callable[[], Any]:
    """A function returning a new copy of a constant, so that a caller changing one
    document cannot change the next; flat containers are copied in one C call."""
    if isinstance(value, dict):
        if not any(isinstance(v, dict | list) for v in value.values()):
            return value.copy
        parts = [(k, _copier(v)) for k, v in value.items()]
        return lambda: {k: copy() for k, copy in parts}
    if isinstance(value, list):
        if not any(isinstance(v, dict | list) for v in value):
            return value.copy
        items = [_copier(v) for v in value]
        return lambda: [copy() for copy in items]
    return lambda: value


def _set(out: dict[str, Any], path: str, value: Any) -> None:
    """Store a value read back at `path`, merging objects met on the way."""
    if path == ".":
        out["."] = value
        return
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        node[last].update(value)
    else:
        node[last] = value


def _unwrap(holder: dict[str, Any]) -> Any:
    return holder.get(".", holder)


# -- paths, checked against the canonical model ----------------------------------------


def _strip_optional(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else Any
        else:
            return tp


def _attribute_type(tp: Any, name: str, where: str) -> Any:
    tp = _strip_optional(tp)
    if tp is Any:
        return Any
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(name)
        if field is not None:
            return field.annotation
        if isinstance(getattr(tp, name, None), property):
            return Any
        raise ConfigError(f"{where}: {tp.__name__} has no attribute {name!r}")
    raise ConfigError(f"{where}: {name!r} cannot be looked up inside a {tp!r}")


def _item_type(tp: Any, where: str) -> Any:
    tp = _strip_optional(tp)
    if tp is Any:
        return Any
    if typing.get_origin(tp) is list:
        return typing.get_args(tp)[0]
    raise ConfigError(f"{where}: $each needs a list, the path gives {tp!r}")


class Scope:
    """Where a template part is compiled: context type, field-name prefix, location."""

    __slots__ = ("prefix", "root", "tp", "where")

    def __init__(self, tp: Any, prefix: str, root: Any, where: str):
        self.tp, self.prefix, self.root, self.where = tp, prefix, root, where

    def at(self, where: str) -> Scope:
        return Scope(self.tp, self.prefix, self.root, where)


class Path_:
    """A compiled path: getter, whether it starts at the record, full field name, type."""

    __slots__ = ("field", "from_root", "get", "path", "tp")

    def __init__(self, spec: str, scope: Scope):
        spec = spec.strip()
        if not spec:
            raise ConfigError(f"{scope.where}: empty path")
        self.from_root = spec.startswith("/")
        self.path = spec[1:] if self.from_root else spec
        tp, prefix = (scope.root, "") if self.from_root else (scope.tp, scope.prefix)
        parts = [] if self.path == "." else self.path.split(".")
        for part in parts:
            tp = _attribute_type(tp, part, scope.where)
        self.tp = tp
        joined = ".".join(to_camel(p) for p in parts)
        self.field = ".".join(p for p in (prefix, joined) if p)
        start = scope.root if self.from_root else scope.tp
        self.get = _getter(self.path, known=_is_model(start) and len(parts) == 1)


def _is_model(tp: Any) -> bool:
    tp = _strip_optional(tp)
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _getter(path: str, *, known: bool = False) -> Getter:
    """`known`: one attribute the compiler found on the context's model, so it is always
    there and the C attrgetter can read it directly."""
    if path == ".":
        return lambda obj: obj
    parts = path.split(".")
    if len(parts) == 1:
        if known:
            return operator.attrgetter(path)
        name = parts[0]
        return lambda obj: getattr(obj, name, None)

    def get(obj: Any) -> Any:
        for part in parts:
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj

    return get


# -- nodes -----------------------------------------------------------------------------


class Node:
    """One compiled template part: `render` (record -> JSON) and `read` (JSON -> values)."""

    __slots__ = ()

    def render(self, ctx: Any, root: Any) -> Any:
        raise NotImplementedError

    def read(self, doc: Any, out: dict[str, Any], root_out: dict[str, Any]) -> None:
        """Store what `doc` carries into `out` (the context) or `root_out` (the record)."""

    def code_lists(self) -> list[CodeList]:
        return []


class Const(Node):
    __slots__ = ("copy", "scalar", "value")

    def __init__(self, value: Any):
        self.value = value
        self.scalar = not isinstance(value, dict | list)
        self.copy = _copier(value)

    def render(self, ctx: Any, root: Any) -> Any:
        return self.value if self.scalar else self.copy()


class Codes:
    """A code list as one template expression uses it, errors naming field and partner."""

    __slots__ = ("as_type", "field", "list", "partner")

    def __init__(self, code_list: CodeList, as_type: type, field: str, partner: str):
        self.list, self.as_type, self.field, self.partner = code_list, as_type, field, partner

    def forward(self, value: Any) -> Any:
        key = text_value(value)
        try:
            text = self.list.forward[key]
        except KeyError:
            raise MappingError(
                f"code {key!r} has no mapping in {self.partner} code list {self.list.name!r} "
                f"({self.list.source.name})",
                field=self.field,
            ) from None
        if self.as_type is bool:
            return text == "true"
        return self.as_type(text)

    def reverse(self, value: Any) -> str:
        key = text_value(value)
        try:
            return self.list.reverse[key]
        except KeyError:
            raise RecordError(
                f"{self.partner} code {key!r} is not in code list {self.list.name!r}",
                field=self.field,
            ) from None


class Value(Node):
    __slots__ = ("codes", "field", "from_root", "get", "optional", "out", "path")

    def __init__(self, path: Path_, codes: Codes | None, optional: bool, out: bool):
        self.path, self.get, self.from_root = path.path, path.get, path.from_root
        self.field, self.codes, self.optional, self.out = path.field, codes, optional, out

    def render(self, ctx: Any, root: Any) -> Any:
        raw = self.get(root if self.from_root else ctx)
        if not raw and (raw is None or raw == "" or raw == []):
            if self.optional:
                return ABSENT
            raise MappingError("required value is missing", field=self.field)
        if self.codes is not None:
            return self.codes.forward(raw)
        if type(raw) is str:
            return raw
        return json_value(raw)

    def read(self, doc: Any, out: dict[str, Any], root_out: dict[str, Any]) -> None:
        if self.out:
            return
        value = self.codes.reverse(doc) if self.codes is not None else doc
        _set(root_out if self.from_root else out, self.path, value)

    def code_lists(self) -> list[CodeList]:
        return [self.codes.list] if self.codes is not None else []


class Text(Node):
    """A string with placeholders: literal parts and values formatted as text."""

    __slots__ = ("optional", "out", "parts", "prefix", "suffix", "value")

    def __init__(self, parts: list[str | Value], optional: bool, out: bool):
        self.parts, self.optional = parts, optional
        values = [p for p in parts if isinstance(p, Value)]
        self.out = out or len(values) != 1
        self.value = values[0] if len(values) == 1 else None
        if self.value is not None:
            i = parts.index(self.value)
            self.prefix = "".join(p for p in parts[:i] if isinstance(p, str))
            self.suffix = "".join(p for p in parts[i + 1 :] if isinstance(p, str))

    def render(self, ctx: Any, root: Any) -> Any:
        if self.value is not None:
            value = self.value.render(ctx, root)
            if value is ABSENT:
                return ABSENT
            return self.prefix + (value if type(value) is str else text_value(value)) + self.suffix
        pieces = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            value = part.render(ctx, root)
            if value is ABSENT:
                return ABSENT
            pieces.append(text_value(value))
        return "".join(pieces)

    def read(self, doc: Any, out: dict[str, Any], root_out: dict[str, Any]) -> None:
        if self.out or self.value is None:
            return
        end = len(doc) - len(self.suffix)
        if not (doc.startswith(self.prefix) and doc.endswith(self.suffix) and end >= len(self.prefix)):
            raise DocumentError(
                f"{doc!r} does not have the form {self.prefix}…{self.suffix} (field {self.value.field})"
            )
        self.value.read(doc[len(self.prefix) : end], out, root_out)

    def code_lists(self) -> list[CodeList]:
        return [c for p in self.parts if isinstance(p, Value) for c in p.code_lists()]


class Uuid5(Node):
    __slots__ = ("namespace", "text")

    def __init__(self, text: Text, namespace: uuid.UUID):
        self.text, self.namespace = text, namespace

    def render(self, ctx: Any, root: Any) -> Any:
        name = self.text.render(ctx, root)
        if name is ABSENT:
            return ABSENT
        return _uuid5_urn(self.namespace, name)

    def code_lists(self) -> list[CodeList]:
        return self.text.code_lists()


@lru_cache(maxsize=16384)
def _uuid5_urn(namespace: uuid.UUID, name: str) -> str:
    """Party and facility ids repeat across records (the same applicant, the same factory)."""
    return f"urn:uuid:{uuid.uuid5(namespace, name)}"


class _Nested(Node):
    """A node that reads a path and hands the value to an inner node ($each, $with)."""

    __slots__ = ("field", "from_root", "get", "item", "optional", "out", "path")

    def __init__(self, path: Path_, item: Node, optional: bool, out: bool):
        self.path, self.get, self.field, self.from_root = (
            path.path,
            path.get,
            path.field,
            path.from_root,
        )
        self.item, self.optional, self.out = item, optional, out


class Each(_Nested):
    __slots__ = ()

    def render(self, ctx: Any, root: Any) -> Any:
        seq = self.get(root if self.from_root else ctx)
        items = []
        if seq:
            render = self.item.render
            for x in seq:
                value = render(x, root)
                if value is not ABSENT:
                    items.append(value)
        if not items:
            if self.optional:
                return ABSENT
            raise MappingError("required list is empty", field=self.field)
        return items

    def read(self, doc: Any, out: dict[str, Any], root_out: dict[str, Any]) -> None:
        if self.out:
            return
        items = []
        for entry in doc:
            holder: dict[str, Any] = {}
            self.item.read(entry, holder, root_out)
            items.append(_unwrap(holder))
        _set(root_out if self.from_root else out, self.path, items)

    def code_lists(self) -> list[CodeList]:
        return self.item.code_lists()


class With(_Nested):
    __slots__ = ()

    def render(self, ctx: Any, root: Any) -> Any:
        sub = self.get(root if self.from_root else ctx)
        if is_empty(sub):
            if self.optional:
                return ABSENT
            raise MappingError("required part is missing", field=self.field)
        return self.item.render(sub, root)

    def read(self, doc: Any, out: dict[str, Any], root_out: dict[str, Any]) -> None:
        if self.out:
            return
        if self.path == ".":
            self.item.read(doc, root_out if self.from_root else out, root_out)
            return
        holder: dict[str, Any] = {}
        self.item.read(doc, holder, root_out)
        _set(root_out if self.from_root else out, self.path, _unwrap(holder))

    def code_lists(self) -> list[CodeList]:
        return self.item.code_lists()


class If(Node):
    __slots__ = ("from_root", "get", "orelse", "then")

    def __init__(self, path: Path_, then: Node, orelse: Const | None):
        self.get, self.from_root, self.then, self.orelse = path.get, path.from_root, then, orelse

    def render(self, ctx: Any, root: Any) -> Any:
        if not is_empty(self.get(root if self.from_root else ctx)):
            return self.then.render(ctx, root)
        return ABSENT if self.orelse is None else self.orelse.render(ctx, root)

    def read(self, doc: Any, out: dict[str, Any], root_out: dict[str, Any]) -> None:
        if self.orelse is not None and doc == self.orelse.value:
            return
        self.then.read(doc, out, root_out)

    def code_lists(self) -> list[CodeList]:
        return self.then.code_lists()


class Object(Node):
    __slots__ = ("children", "entries")

    def __init__(self, children: list[tuple[str, Node]]):
        self.children = children
        # (key, render, constant): scalar constants are stored, everything else is called
        self.entries: list[tuple[str, Callable[[Any, Any], Any] | None, Any]] = [
            (k, None, c.value) if isinstance(c, Const) and c.scalar else (k, c.render, None)
            for k, c in children
        ]

    def render(self, ctx: Any, root: Any) -> Any:
        out = {}
        for key, render, constant in self.entries:
            if render is None:
                out[key] = constant
                continue
            value = render(ctx, root)
            if value is not ABSENT:
                out[key] = value
        return out

    def read(self, doc: Any, out: dict[str, Any], root_out: dict[str, Any]) -> None:
        for key, child in self.children:
            if key in doc:
                child.read(doc[key], out, root_out)

    def signature(self) -> dict[str, Any]:
        """The constant keys that tell this entry apart inside a literal list."""
        return {k: c.value for k, c in self.children if isinstance(c, Const)}

    def code_lists(self) -> list[CodeList]:
        return [c for _, child in self.children for c in child.code_lists()]


class List(Node):
    """A list written out in the template: fixed entries, some of them optional."""

    __slots__ = ("items", "signatures")

    def __init__(self, items: list[Node]):
        self.items = items
        self.signatures = [_signature(item) for item in items]

    def render(self, ctx: Any, root: Any) -> Any:
        out = []
        for item in self.items:
            value = item.render(ctx, root)
            if value is not ABSENT:
                out.append(value)
        return out if out else ABSENT

    def read(self, doc: Any, out: dict[str, Any], root_out: dict[str, Any]) -> None:
        used = [False] * len(self.items)
        for entry in doc:
            for i, item in enumerate(self.items):
                if used[i] or not self._matches(i, entry):
                    continue
                used[i] = True
                item.read(entry, out, root_out)
                break

    def _matches(self, i: int, entry: Any) -> bool:
        item = self.items[i]
        if isinstance(item, Const):
            return bool(entry == item.value)
        if not isinstance(entry, dict):
            return True
        return all(entry.get(k) == v for k, v in self.signatures[i].items())

    def code_lists(self) -> list[CodeList]:
        return [c for item in self.items for c in item.code_lists()]


def _signature(node: Node) -> dict[str, Any]:
    """The constant keys of a list entry, looking through $if and $with wrappers."""
    if isinstance(node, If):
        return _signature(node.then)
    if isinstance(node, With):
        return _signature(node.item)
    if isinstance(node, Object):
        return node.signature()
    return {}


# -- compiling -------------------------------------------------------------------------


class Compiler:
    """Turns template JSON into nodes once; all errors are ConfigError naming the place."""

    def __init__(
        self,
        codes: Mapping[str, CodeList],
        partner: str,
        *,
        shared: Mapping[str, Any] | None = None,
        id_namespace: uuid.UUID | None = None,
    ):
        self.codes, self.partner = codes, partner
        self.shared = dict(shared or {})
        self.id_namespace = id_namespace

    def compile(self, template: Any, model: type[BaseModel], where: str) -> Node:
        return self._node(template, Scope(model, "", model, where))

    def _node(self, t: Any, scope: Scope) -> Node:
        if isinstance(t, str):
            return self._string(t, scope, optional=False, out=False)
        if isinstance(t, list):
            items = [self._node(x, scope.at(f"{scope.where}[{i}]")) for i, x in enumerate(t)]
            if all(isinstance(i, Const) for i in items):
                return Const([i.value for i in items])  # type: ignore[attr-defined]
            return List(items)
        if not isinstance(t, dict):
            return Const(t)
        keys = set(t) - {"$comment"}
        unknown = {k for k in keys if k.startswith("$")} - DIRECTIVES - FLAGS
        if unknown:
            raise ConfigError(f"{scope.where}: unknown template keys {sorted(unknown)}")
        directives = keys & DIRECTIVES
        if not directives:
            flags = keys & FLAGS
            if flags:
                raise ConfigError(f"{scope.where}: {sorted(flags)} without a directive")
            children = [
                (k, self._node(v, scope.at(f"{scope.where}.{k}"))) for k, v in t.items() if k != "$comment"
            ]
            if all(isinstance(c, Const) for _, c in children):
                return Const({k: c.value for k, c in children})  # type: ignore[attr-defined]
            return Object(children)
        if len(directives) > 1:
            raise ConfigError(f"{scope.where}: more than one directive {sorted(directives)}")
        return self._directive(directives.pop(), t, scope)

    def _directive(self, name: str, t: dict[str, Any], scope: Scope) -> Node:
        where = scope.where
        optional, out = bool(t.get("$optional", False)), bool(t.get("$out", False))
        allowed = {
            "$value": {"$codes", "$as", "$optional", "$out"},
            "$text": {"$optional", "$out"},
            "$each": {"$item", "$optional", "$out"},
            "$with": {"$item", "$optional", "$out"},
            "$if": {"$then", "$else"},
            "$uuid5": set(),
            "$shared": set(),
            "$const": set(),
        }[name] | {name, "$comment"}
        extra = set(t) - allowed
        if extra:
            raise ConfigError(f"{where}: {name} does not take {sorted(extra)}")
        spec = t[name]
        if name == "$const":
            return Const(spec)
        if name == "$shared":
            if spec not in self.shared:
                raise ConfigError(f"{where}: shared constant {spec!r} is not defined")
            return Const(self.shared[spec])
        if not isinstance(spec, str):
            raise ConfigError(f"{where}: {name} needs a string")
        if name == "$value":
            return self._value(spec, t.get("$codes"), t.get("$as"), scope, optional, out)
        if name == "$text":
            return self._string(spec, scope, optional=optional, out=out, force_text=True)
        if name == "$uuid5":
            if self.id_namespace is None:
                raise ConfigError(f"{where}: $uuid5 needs an id_namespace in the manifest")
            text = self._string(spec, scope, optional=False, out=True, force_text=True)
            if not isinstance(text, Text):
                raise ConfigError(f"{where}: $uuid5 needs at least one placeholder")
            return Uuid5(text, self.id_namespace)
        if name == "$if":
            path = Path_(spec, scope)
            if "$then" not in t:
                raise ConfigError(f"{where}: $if needs $then")
            then = self._node(t["$then"], scope.at(f"{where}.$then"))
            orelse: Const | None = None
            if "$else" in t:
                node = self._node(t["$else"], scope.at(f"{where}.$else"))
                if not isinstance(node, Const):
                    raise ConfigError(f"{where}: $else must be a constant")
                orelse = node
            return If(path, then, orelse)
        if "$item" not in t:
            raise ConfigError(f"{where}: {name} needs $item")
        path = Path_(spec, scope)
        if name == "$each":
            inner = Scope(_item_type(path.tp, where), f"{path.field}[]", scope.root, f"{where}.$item")
            return Each(path, self._node(t["$item"], inner), optional, out)
        inner = Scope(path.tp, path.field, scope.root, f"{where}.$item")
        return With(path, self._node(t["$item"], inner), optional, out)

    def _value(
        self, spec: str, code_name: Any, as_name: Any, scope: Scope, optional: bool, out: bool
    ) -> Value:
        path = Path_(spec, scope)
        codes = None
        if code_name is not None:
            if code_name not in self.codes:
                raise ConfigError(f"{scope.where}: code list {code_name!r} is not defined")
            if as_name is not None and as_name not in _AS:
                raise ConfigError(f"{scope.where}: $as must be one of {sorted(_AS)}")
            codes = Codes(self.codes[code_name], _AS[as_name or "string"], path.field, self.partner)
        elif as_name is not None:
            raise ConfigError(f"{scope.where}: $as only types the text of a code list")
        return Value(path, codes, optional, out)

    def _string(self, s: str, scope: Scope, *, optional: bool, out: bool, force_text: bool = False) -> Node:
        parts: list[str | Value] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(s):
            parts.append(s[pos : m.start()])
            pos = m.end()
            token = m.group(0)
            if token in ("{{", "}}"):
                parts.append(token[0])
                continue
            path, _, code_name = m.group(1).partition("|")
            parts.append(self._value(path, code_name.strip() or None, None, scope, optional, out))
        parts.append(s[pos:])
        parts = [p for p in parts if p != ""]
        values = [p for p in parts if isinstance(p, Value)]
        if not values:
            return Const("".join(p for p in parts if isinstance(p, str)))
        if len(parts) == 1 and not force_text:
            return values[0]  # exactly "{path}": the value itself, JSON-typed
        return Text(parts, optional, out)


def code_lists_of(node: Node) -> dict[str, CodeList]:
    return {c.name: c for c in node.code_lists()}


def load_template_json(path: Path) -> Any:
    """Template files are our own data, but read strictly all the same (no NaN, no duplicates)."""
    import json

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(items)
        if len(d) != len(items):
            raise ConfigError(f"{path}: duplicate key in template")
        return d

    def no_constant(name: str) -> Any:
        raise ConfigError(f"{path}: {name} is not JSON")

    try:
        return json.loads(
            path.read_text(encoding="utf-8"), object_pairs_hook=pairs, parse_constant=no_constant
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"template {path} cannot be read: {exc}") from None
