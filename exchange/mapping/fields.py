"""The canonical fields a template may name, read from the model itself, so the list in
docs/mapping.md and the start-up check can never drift from the code.

A path is the model's own (snake_case) field names joined by dots, relative to the
current context: the record, or what an enclosing ``m:with`` / ``m:each`` selected.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union

from pydantic import BaseModel

from exchange.model import MODEL_BY_KIND, Kind


@dataclass(frozen=True, slots=True)
class FieldType:
    """What a path leads to: a model (has fields), or a scalar; either may be a list."""

    target: Any
    is_list: bool = False
    optional: bool = False

    @property
    def model(self) -> type[BaseModel] | None:
        return self.target if isinstance(self.target, type) and issubclass(self.target, BaseModel) else None

    def item(self) -> FieldType:
        """The type of one element of a list (what ``m:each`` gives its children)."""
        return FieldType(self.target)

    def describe(self) -> str:
        name = _type_name(self.target)
        return f"list of {name}" if self.is_list else name


class UnknownPath(Exception):
    """A path names no canonical field; the message says where it stopped and suggests."""


def _unwrap(annotation: Any) -> FieldType:
    optional = False
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            annotation = args[0] if len(args) == 1 else args
            if isinstance(annotation, list):
                return FieldType(annotation, is_list, optional)
        elif origin in (list, tuple, frozenset, set):
            is_list = True
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Literal:
            return FieldType(type(typing.get_args(annotation)[0]), is_list, optional)
        else:
            return FieldType(annotation, is_list, optional)


def _type_name(target: Any) -> str:
    if isinstance(target, list):
        return " or ".join(_type_name(t) for t in target)
    if isinstance(target, type) and issubclass(target, Enum):
        return f"code ({', '.join(str(m.value) for m in target)})"
    if isinstance(target, type):
        return {"str": "text", "date": "date", "float": "number", "int": "integer", "bool": "boolean"}.get(
            target.__name__, target.__name__
        )
    return str(target)


def record_type(kind: Kind) -> FieldType:
    return FieldType(MODEL_BY_KIND[kind])


def resolve(context: FieldType, path: str) -> FieldType:
    """The type at `path` from `context`; UnknownPath (with a did-you-mean) if none."""
    if path == ".":
        return context
    current = context
    walked: list[str] = []
    for part in path.split("."):
        model = current.model
        if model is None or current.is_list:
            what = current.describe()
            where = ".".join(walked) or "the context"
            raise UnknownPath(f"{where} is a {what}, it has no field {part!r}")
        fields = model.model_fields
        if part not in fields:
            by_alias = {f.alias: name for name, f in fields.items() if f.alias}
            hint = by_alias.get(part) or next(iter(difflib.get_close_matches(part, list(fields), 1)), None)
            suggestion = f"; did you mean {'.'.join([*walked, hint])!r}?" if hint else ""
            raise UnknownPath(
                f"{'.'.join([*walked, part])!r} is not a canonical field of {model.__name__}"
                f" (fields: {', '.join(fields)}){suggestion}"
            )
        current = _unwrap(fields[part].annotation)
        walked.append(part)
    return current


def resolve_listed(kind: Kind, path: str) -> FieldType:
    """A path as the field tables write it (`results[].u`): `[]` steps into a list's items."""
    current = record_type(kind)
    for part in path.split("."):
        current = resolve(current, part.removesuffix("[]"))
        if part.endswith("[]"):
            if not current.is_list:
                raise UnknownPath(f"{part!r} is a {current.describe()}, not a list")
            current = current.item()
    return current


def canonical_fields(kind: Kind) -> list[tuple[str, str, bool]]:
    """Every path of a family, depth first: (path, type, required). Lists are marked []."""
    out: list[tuple[str, str, bool]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            if name == "kind":
                continue
            ft = _unwrap(info.annotation)
            path = f"{prefix}{name}"
            out.append((path + ("[]" if ft.is_list else ""), ft.describe(), info.is_required()))
            if ft.model is not None:
                walk(ft.model, f"{path}{'[]' if ft.is_list else ''}.")

    walk(MODEL_BY_KIND[kind], "")
    return out


def fields_markdown(kind: Kind) -> str:
    """The table docs/mapping.md carries for a family (a test keeps the two equal)."""
    lines = ["| path | type | required |", "|---|---|---|"]
    lines += [f"| `{p}` | {t} | {'yes' if r else ''} |" for p, t, r in canonical_fields(kind)]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m exchange.mapping.fields: the tables for docs/mapping.md
    for family in Kind:
        print(f"<!-- fields:{family.value} -->\n{fields_markdown(family)}\n<!-- /fields:{family.value} -->\n")
