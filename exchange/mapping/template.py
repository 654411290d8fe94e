"""Bidirectional XML templates: one declarative file renders a partner document from a
canonical record and parses it back.

A template is the partner document itself, annotated in the namespace
``urn:mra-exchange:mapping:1`` (prefix ``m``):

- ``m:value="path|codes"``: element text is the value at ``path`` (relative to the
  current context), passed through code list ``codes`` if given; ``path`` "." is the
  context itself.
- ``attr="{path|codes}"``: the same for an attribute.
- ``m:with="path"``: children see the value at ``path`` as their context.
- ``m:each="path"``: the element repeats for every item of the list at ``path``.
- ``m:if="path"``: the element appears only when the value at ``path`` is not empty.
- ``m:optional="true"``: an absent value omits the element instead of failing.
- ``m:direction="out"``: rendered, but ignored when parsing back (derived values).

Elements without directives are copied as they are (wrappers, constants). Sibling
elements that carry values must have distinct tags, since parsing finds them by tag.
Templates compile once into a tree of nodes; rendering is a walk of that tree.
"""

from __future__ import annotations

import difflib
import operator
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic.alias_generators import to_camel

from exchange.errors import ConfigError, MappingError, RecordError
from exchange.mapping.codegen import compile_renderer, escape_attr
from exchange.mapping.codes import CodeList
from exchange.mapping.fields import FieldType, UnknownPath, resolve
from exchange.xml.safe import hardened_parser

M_NS = "urn:mra-exchange:mapping:1"
_VALUE, _WITH, _EACH, _IF, _OPTIONAL, _DIRECTION = (
    f"{{{M_NS}}}{name}" for name in ("value", "with", "each", "if", "optional", "direction")
)

DIRECTIVES = frozenset(("value", "with", "each", "if", "optional", "direction"))
"""Every ``m:*`` attribute a template may carry; any other is a start-up error."""

Getter = Callable[[Any], Any]


def _getter(path: str) -> Getter:
    if path == ".":
        return lambda obj: obj
    get = operator.attrgetter(path)

    def safe_get(obj: Any) -> Any:
        try:
            return get(obj)
        except AttributeError:  # an optional part on the way is None
            return None

    return safe_get


def _field_name(prefix: str, path: str) -> str:
    parts = [to_camel(p) for p in path.split(".") if p and p != "."]
    joined = ".".join(parts)
    if not prefix:
        return joined
    return f"{prefix}.{joined}" if joined else prefix


class Expr:
    """``path|codes``, compiled: a getter, an optional code list, the field's full name."""

    __slots__ = ("codes", "field", "get", "partner", "path", "readable")

    def __init__(self, spec: str, prefix: str, codes: dict[str, CodeList], partner: str, where: str):
        path, _, code_name = spec.partition("|")
        self.path = path.strip()
        self.get = _getter(self.path)
        self.field = _field_name(prefix, self.path)
        self.partner = partner
        self.codes: CodeList | None = None
        if code_name:
            if code_name.strip() not in codes:
                raise ConfigError(f"{where}: code list {code_name.strip()!r} is not defined")
            self.codes = codes[code_name.strip()]
        self.readable = self.path != "." and not (self.codes is not None and self.codes.one_way)

    def parse(self, text: str) -> str:
        if self.codes is None:
            return text
        try:
            return self.codes.reverse[text]
        except KeyError:
            raise RecordError(
                f"{self.partner} code {text!r} is not in code list {self.codes.name!r}",
                field=self.field,
            ) from None


class Node:
    """One compiled template element."""

    __slots__ = (
        "attr_exprs",
        "attr_exprs_q",
        "children",
        "each",
        "field",
        "if_path",
        "line",
        "optional",
        "out_only",
        "qname",
        "scalar_each",
        "static_attr_text",
        "static_attrs",
        "static_text",
        "tag",
        "value",
        "with_",
    )

    def __init__(
        self,
        el: etree._Element,
        prefix: str,
        codes: dict[str, CodeList],
        partner: str,
        where: str,
        context: FieldType | None = None,
    ):
        self.tag = str(el.tag)
        self.qname = _qualified(el, self.tag)
        self.line: int = el.sourceline if isinstance(el.sourceline, int) else 0
        loc = f"{where}:{el.sourceline}"
        _check_directives(el, loc)
        self.optional = el.get(_OPTIONAL) == "true"
        self.out_only = el.get(_DIRECTION) == "out"
        self.if_path = el.get(_IF)
        if self.if_path is not None:
            _check_path(context, self.if_path.strip(), loc, "m:if")
        each_spec, with_spec = el.get(_EACH), el.get(_WITH)
        self.each = Expr(each_spec, prefix, codes, partner, loc) if each_spec else None
        self.with_ = Expr(with_spec, prefix, codes, partner, loc) if with_spec else None
        inner = prefix
        inner_context = context
        if self.each is not None:
            inner = self.each.field + "[]"
            found = _check_path(context, self.each.path, loc, "m:each")
            if found is not None and not found.is_list:
                raise ConfigError(f"{loc}: m:each={self.each.path!r} is a {found.describe()}, not a list")
            inner_context = found.item() if found is not None else None
        elif self.with_ is not None:
            inner = self.with_.field
            inner_context = _check_path(context, self.with_.path, loc, "m:with")
        self.field = inner
        value_spec = el.get(_VALUE)
        self.value = Expr(value_spec, inner, codes, partner, loc) if value_spec else None
        if self.value is not None:
            _check_scalar(_check_path(inner_context, self.value.path, loc, "m:value"), self.value.path, loc)
        self.scalar_each = self.each is not None and self.value is not None and self.value.path == "."
        self.static_attrs: dict[str, str] = {}
        self.attr_exprs: list[tuple[str, Expr]] = []
        for key, value in el.attrib.items():
            name, raw = str(key), str(value)
            if name.startswith(f"{{{M_NS}}}"):
                continue
            if raw.startswith("{") and raw.endswith("}"):
                expr = Expr(raw[1:-1], inner, codes, partner, loc)
                _check_scalar(_check_path(inner_context, expr.path, loc, f"attribute {name}"), expr.path, loc)
                self.attr_exprs.append((name, expr))
            else:
                self.static_attrs[name] = raw
        self.attr_exprs_q = [(_qualified(el, name), expr) for name, expr in self.attr_exprs]
        self.static_attr_text = "".join(
            f' {_qualified(el, name)}="{escape_attr(value)}"' for name, value in self.static_attrs.items()
        )
        text = (el.text or "").strip()
        self.static_text = text or None
        self.children = [
            Node(child, inner, codes, partner, where, inner_context)
            for child in el
            if isinstance(child.tag, str)
        ]

    # -- parsing back ------------------------------------------------------------

    def parse_in(self, parent: etree._Element, out: dict[str, Any]) -> None:
        """Find this node's element(s) among parent's children and read them into out."""
        if self.out_only:
            return
        matches = parent.findall(self.tag)
        if self.each is not None:
            if self.scalar_each:
                assert self.value is not None
                items: list[Any] = [self.value.parse(m.text or "") for m in matches]
            else:
                items = []
                for m in matches:
                    item: dict[str, Any] = {}
                    self.read(m, item)
                    items.append(item)
            if items:
                _set_path(out, self.each.path, items)
            return
        if not matches:
            return
        if self.with_ is not None:
            self.read(matches[0], _sub_dict(out, self.with_.path))
        else:
            self.read(matches[0], out)

    def read(self, el: etree._Element, out: dict[str, Any]) -> None:
        value = self.value
        if value is not None and value.readable and not self.scalar_each and el.text and el.text.strip():
            _set_path(out, value.path, value.parse(el.text.strip()))
        for name, expr in self.attr_exprs:
            raw = el.get(name)
            if raw is not None and expr.readable:
                _set_path(out, expr.path, expr.parse(raw))
        for child in self.children:
            child.parse_in(el, out)


def _check_directives(el: etree._Element, loc: str) -> None:
    """A misspelt directive would silently do nothing: refuse it, and odd values too."""
    for key in el.attrib:
        qname = etree.QName(str(key))
        if qname.namespace == M_NS and qname.localname not in DIRECTIVES:
            hint = difflib.get_close_matches(qname.localname, sorted(DIRECTIVES), 1)
            suggestion = f"; did you mean m:{hint[0]}?" if hint else ""
            raise ConfigError(
                f"{loc}: unknown directive m:{qname.localname} "
                f"(known: {', '.join('m:' + d for d in sorted(DIRECTIVES))}){suggestion}"
            )
    for directive, allowed in ((_OPTIONAL, ("true", "false")), (_DIRECTION, ("out", "both"))):
        value = el.get(directive)
        if value is not None and value not in allowed:
            local = etree.QName(directive).localname
            raise ConfigError(f"{loc}: m:{local}={value!r} must be one of {', '.join(allowed)}")


def _check_path(context: FieldType | None, path: str, loc: str, directive: str) -> FieldType | None:
    """The path must name a canonical field (checked when the template knows its model)."""
    if context is None:
        return None
    try:
        return resolve(context, path)
    except UnknownPath as exc:
        raise ConfigError(f"{loc}: {directive}={path!r}: {exc}") from None


def _check_scalar(found: FieldType | None, path: str, loc: str) -> None:
    """Text needs one value: a part (use m:with) or a list (use m:each) cannot be written."""
    if found is None:
        return
    if found.is_list:
        raise ConfigError(f"{loc}: {path!r} is a {found.describe()}: repeat the element with m:each")
    if found.model is not None:
        raise ConfigError(f"{loc}: {path!r} is a {found.describe()}, not a value: use m:with for its fields")


def _qualified(el: etree._Element, name: str) -> str:
    """Clark name -> prefix:local as the template spells it."""
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    for prefix, ns in el.nsmap.items():
        if ns == uri:
            return f"{prefix}:{local}" if prefix else local
    raise ConfigError(f"namespace {uri} has no prefix in the template")


def _sub_dict(out: dict[str, Any], path: str) -> dict[str, Any]:
    if path == ".":
        return out
    node = out
    for part in path.split("."):
        node = node.setdefault(part, {})
    return node


def _set_path(out: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


class Template:
    """A compiled template: `render(record)` -> document bytes, `parse(root)` -> dict."""

    def __init__(
        self, path: Path, codes: dict[str, CodeList], partner: str, context: FieldType | None = None
    ):
        try:
            root = etree.parse(str(path), parser=hardened_parser()).getroot()
        except (OSError, etree.XMLSyntaxError) as exc:
            raise ConfigError(f"template {path} cannot be read: {exc}") from None
        self.path = path
        self.tag = str(root.tag)
        self.namespace = etree.QName(root).namespace or ""
        self.nsmap = {k: v for k, v in root.nsmap.items() if v != M_NS}
        self._root = Node(root, "", codes, partner, str(path), context)
        self._renderer, self._lines = compile_renderer(self._root, self.nsmap, partner)
        self.code_lists_used = {
            expr.codes.name: expr for expr in _all_exprs(self._root) if expr.codes is not None
        }

    def render(self, record: Any) -> bytes:
        try:
            return self._renderer(record).encode()
        except RecordError:
            raise
        except Exception as exc:  # a template that does not fit the record: a reject, not a crash
            raise MappingError(f"{self.path}:{self._failed_line()}: cannot render: {exc!r}") from None

    def _failed_line(self) -> int:
        """The template line whose generated code raised (0 when it cannot be told)."""
        tb = sys.exc_info()[2]
        line = 0
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.startswith("<template "):
                line = self._lines.get(tb.tb_lineno, line)
            tb = tb.tb_next
        return line

    def parse(self, root: etree._Element) -> dict[str, Any]:
        if root.tag != self.tag:
            raise RecordError(f"root element is {root.tag}, expected {self.tag}")
        out: dict[str, Any] = {}
        self._root.read(root, out)
        return out


def _all_exprs(node: Node) -> list[Expr]:
    found = [e for e in (node.value, node.each, node.with_) if e is not None]
    found += [e for _, e in node.attr_exprs]
    for child in node.children:
        found += _all_exprs(child)
    return found
