"""Compiles a template's node tree into one Python function that writes the document
as text. Interpreting the template per element cost ~1.7 µs an element; the generated
function does the same work in a fraction of that, which is what lets conversion keep
up with bare XSD validation (see bench/bench_convert.py).

The generated code only reads attributes, looks up code lists and appends strings;
every name it uses is passed in explicitly.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Any

from exchange.errors import MappingError
from exchange.mapping.codes import CodeList
from exchange.mapping.values import format_value

if TYPE_CHECKING:
    from exchange.mapping.template import Expr, Node

Renderer = Callable[[Any], str]
_TEXT_SPECIALS = ("&", "<", ">", "\r")
_ATTR_SPECIALS = (*_TEXT_SPECIALS, '"', "\n", "\t")
_NOKEY = object()
XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"


def escape_text(s: str) -> str:
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    if "\r" in s:  # parsers turn a bare CR into LF; keep it as written
        s = s.replace("\r", "&#13;")
    return s


def escape_attr(s: str) -> str:
    s = escape_text(s)
    if '"' in s:
        s = s.replace('"', "&quot;")
    if "\n" in s or "\t" in s:
        s = s.replace("\n", "&#10;").replace("\t", "&#9;")
    return s


def _literal(text: str) -> str:
    """`text` as it stands inside an f-string: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


class _Compiler:
    """Writes the renderer's source. Output goes through `put`: consecutive pieces that
    are always written together (static markup, required values) are joined into one
    f-string and appended once, at the next point where what follows is conditional
    (an optional element, a loop, an `m:if`) or at the end of the block."""

    def __init__(self, partner: str):
        self.partner = partner
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.counter = 0
        self.pending: list[str] = []  # f-string source pieces not yet appended
        self.at = 0  # the template line being compiled
        self.line_of: dict[int, int] = {}  # generated line -> template line

    def const(self, value: Any, prefix: str) -> str:
        self.counter += 1
        name = f"{prefix}{self.counter}"
        self.consts[name] = value
        return name

    def var(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)
        self.line_of[len(self.lines)] = self.at

    def put(self, piece: str) -> None:
        """Output `piece`, f-string source (static text through _literal, values as {var})."""
        self.pending.append(piece)

    def flush(self, indent: int) -> None:
        """Append what is pending, at `indent`: before a conditional part, at a block's end."""
        if self.pending:
            self.emit(indent, f"a(f{''.join(self.pending)!r})")
            self.pending = []

    def access(self, ctx: str, path: str, indent: int) -> str:
        """An expression for the value at `path`; a dotted path is read into a variable
        first (statements at `indent`), None when an optional part on the way is None."""
        if path == ".":
            return ctx
        if "." not in path:
            return f"{ctx}.{path}"
        var = self.var("g")
        self.emit(indent, "try:")  # free when nothing is raised
        self.emit(indent + 1, f"{var} = {ctx}.{path}")
        self.emit(indent, "except AttributeError:  # an optional part on the way is None")
        self.emit(indent + 1, f"{var} = None")
        return var

    def text_of(self, expr: Expr, var: str, indent: int, escape: str, optional: bool) -> int:
        """var := escaped partner text for the canonical value in var; returns the indent
        at which to go on (deeper, in a block of its own, when a code list may map an
        optional value to nothing: the caller flushes at the end of that block)."""
        if expr.codes is not None:
            # The table's partner values are escaped once, here; a canonical value is
            # looked up as it is (a str enum hashes as its text), formatted only on a miss.
            escaped = escape_attr if escape == "_attr" else escape_text
            forward = {k: None if v is None else escaped(v) for k, v in expr.codes.forward.items()}
            table = self.const(forward, "CL")
            info = self.const((expr.codes, expr.field), "CI")
            mapped = self.var("m")
            self.emit(indent, "try:")
            self.emit(indent + 1, f"{mapped} = {table}.get({var}, _NOKEY)")
            self.emit(indent, "except TypeError:  # unhashable: no code; formatting says why")
            self.emit(indent + 1, f"{mapped} = _NOKEY")
            self.emit(indent, f"if {mapped} is _NOKEY:")
            self.emit(indent + 1, f"{mapped} = _code({table}, {info}, {var})")
            if any(v is None for v in expr.codes.forward.values()):
                if optional:
                    self.emit(indent, f"if {mapped} is not None:")
                    indent += 1
                else:
                    field = self.const(expr.field, "F")
                    self.emit(indent, f"if {mapped} is None:")
                    self.emit(indent + 1, f'raise _missing("the code has no partner value", {field})')
            self.emit(indent, f"{var} = {mapped}")
            return indent
        specials = _ATTR_SPECIALS if escape == "_attr" else _TEXT_SPECIALS
        test = " or ".join(f"{c!r} in {var}" for c in specials)
        self.emit(indent, f"if {var}.__class__ is not str:")  # most values are text already
        self.emit(indent + 1, f"{var} = {escape}_of({var})")  # dates, enums, numbers
        self.emit(indent, f"elif {test}:")  # escaping is rare: test inline, call only then
        self.emit(indent + 1, f"{var} = {escape}({var})")
        return indent

    def node(self, node: Node, ctx: str, indent: int) -> None:
        outer, self.at = self.at, node.line
        self._node(node, ctx, indent)
        self.at = outer

    def _node(self, node: Node, ctx: str, indent: int) -> None:
        if node.if_path is not None:
            self.flush(indent)
            tested = self.var("e")
            self.emit(indent, f"{tested} = {self.access(ctx, node.if_path, indent)}")
            empty = f'{tested} is None or {tested} == "" or (isinstance({tested}, list) and not {tested})'
            self.emit(indent, f"if not ({empty}):")
            self.node_body(node, ctx, indent + 1)
            self.flush(indent + 1)
        else:
            self.node_body(node, ctx, indent)

    def node_body(self, node: Node, ctx: str, indent: int) -> None:
        if node.each is not None:
            item = self.var("c")
            self.flush(indent)
            self.emit(indent, f"for {item} in ({self.access(ctx, node.each.path, indent)} or ()):")
            self.element(node, item, indent + 1)
            self.flush(indent + 1)
        elif node.with_ is not None:
            sub = self.var("c")
            self.emit(indent, f"{sub} = {self.access(ctx, node.with_.path, indent)}")
            if node.optional:
                self.flush(indent)
                self.emit(indent, f"if {sub} is not None:")
                self.element(node, sub, indent + 1)
                self.flush(indent + 1)
            else:
                field = self.const(node.with_.field, "F")
                self.emit(indent, f"if {sub} is None:")
                self.emit(indent + 1, f'raise _missing("required part is missing", {field})')
                self.element(node, sub, indent)
        else:
            self.element(node, ctx, indent)

    def element(self, node: Node, ctx: str, indent: int) -> None:
        if node.value is None:
            self.open_and_body(node, ctx, indent, None)
            return
        value = self.var("v")
        self.emit(indent, f"{value} = {self.access(ctx, node.value.path, indent)}")
        if node.optional:
            self.flush(indent)
            self.emit(indent, f'if {value} is not None and {value} != "":')
            inner = self.text_of(node.value, value, indent + 1, "_esc", True)
            self.open_and_body(node, ctx, inner, value)
            self.flush(inner)
        else:
            field = self.const(node.value.field, "F")
            self.emit(indent, f'if {value} is None or {value} == "":')
            self.emit(indent + 1, f'raise _missing("required value is missing", {field})')
            inner = self.text_of(node.value, value, indent, "_esc", False)
            self.open_and_body(node, ctx, inner, value)

    def open_and_body(self, node: Node, ctx: str, indent: int, text_var: str | None) -> None:
        # Each attribute with a value becomes a variable holding ` name="text"` (or ""
        # when left out), so the start tag joins the output like static text.
        opening = _literal(f"<{node.qname}{node.static_attr_text}")
        for qname, expr in node.attr_exprs_q:
            av, attr = self.var("t"), self.var("x")
            self.emit(indent, f"{attr} = ''")
            self.emit(indent, f"{av} = {self.access(ctx, expr.path, indent)}")
            self.emit(indent, f'if {av} is not None and {av} != "":')
            inner = self.text_of(expr, av, indent + 1, "_attr", True)
            text = _literal(f' {qname}="') + "{" + av + '}"'
            self.emit(inner, f"{attr} = f{text!r}")
            opening += "{" + attr + "}"
        self.put(opening + ">")
        if text_var is not None:
            self.put("{" + text_var + "}")
        elif node.static_text is not None:
            self.put(_literal(escape_text(node.static_text)))
        for child in node.children:
            self.node(child, ctx, indent)
        self.put(_literal(f"</{node.qname}>"))


def _fmt_factory(escape: Callable[[str], str] | None = None) -> Callable[[Any], str]:
    """Value -> text (escaped with `escape` if given), choosing the conversion once per
    type (enums and dates recur on every record; an isinstance chain per value was
    measurable). Dates and numbers never need escaping; enum values and others may."""

    def escaped(convert: Callable[[Any], str]) -> Callable[[Any], str]:
        if escape is None:
            return convert
        return lambda value: escape(convert(value))

    by_type: dict[type, Callable[[Any], str]] = {str: escaped(str), date: date.isoformat}

    def fmt(value: Any) -> str:
        convert = by_type.get(value.__class__)
        if convert is None:
            cls = value.__class__
            if issubclass(cls, Enum) and isinstance(value.value, str):
                convert = escaped(operator.attrgetter("value"))
            elif cls in (bool, int, float):
                convert = format_value
            else:
                convert = escaped(format_value)
            by_type[cls] = convert
        return convert(value)

    return fmt


def compile_renderer(
    root: Node, nsmap: dict[str | None, str], partner: str
) -> tuple[Renderer, dict[int, int]]:
    """One function: canonical record -> document text (with XML declaration), and which
    template line each of its source lines came from (to name it when rendering fails)."""
    comp = _Compiler(partner)
    comp.at = root.line
    comp.emit(0, "def render(c0):")
    comp.emit(1, "parts = []")
    comp.emit(1, "a = parts.append")
    declarations = "".join(
        f' xmlns:{prefix}="{escape_attr(uri)}"' if prefix else f' xmlns="{escape_attr(uri)}"'
        for prefix, uri in nsmap.items()
    )
    comp.put(_literal(XML_DECLARATION))
    root.static_attr_text = declarations + root.static_attr_text
    comp.element(root, "c0", 1)
    comp.flush(1)
    comp.emit(1, 'return "".join(parts)')

    def unmapped(info: tuple[CodeList, str], code: str) -> MappingError:
        codes, field = info
        return MappingError(
            f"code {code!r} has no mapping in {partner} code list {codes.name!r} ({codes.source.name})",
            field=field,
        )

    fmt = _fmt_factory()

    def code(table: dict[str, str | None], info: tuple[CodeList, str], value: Any) -> str | None:
        """The (escaped) partner value of a canonical value the direct lookup missed: one
        that is not text yet (a date, an enum that is not a str) is formatted first; a
        code the list does not have is a MappingError naming the list and the field."""
        text = value if value.__class__ is str else fmt(value)
        mapped = table.get(text, _NOKEY)
        if mapped is _NOKEY:
            raise unmapped(info, text)
        return mapped  # type: ignore[return-value]

    def missing(reason: str, field: str) -> MappingError:
        return MappingError(reason, field=field)

    namespace: dict[str, Any] = {
        "_esc_of": _fmt_factory(escape_text),
        "_attr_of": _fmt_factory(escape_attr),
        "_code": code,
        "_esc": escape_text,
        "_attr": escape_attr,
        "_missing": missing,
        "_NOKEY": _NOKEY,
        **comp.consts,
    }
    source = "\n".join(comp.lines)
    exec(compile(source, f"<template {partner}>", "exec"), namespace)
    renderer: Renderer = namespace["render"]
    renderer.__doc__ = source  # keeps the generated code visible for debugging
    return renderer, comp.line_of
