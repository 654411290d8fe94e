"""Compiled XSDs: loaded once per file, validating trees in memory on the hot path."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from exchange.errors import ConfigError, DocumentError
from exchange.xml.safe import hardened_parser

MAX_MESSAGES = 20


class CompiledSchema:
    """One XSD, compiled; `check` raises DocumentError with line:column messages."""

    def __init__(self, path: Path):
        self.path = path
        try:
            doc = etree.parse(str(path), parser=hardened_parser())
            self._schema = etree.XMLSchema(doc)
        except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            raise ConfigError(f"schema {path} cannot be compiled: {exc}") from None
        self.target_namespace: str = doc.getroot().get("targetNamespace", "")

    def is_valid(self, tree: etree._Element) -> bool:
        return bool(self._schema.validate(tree))

    def check(self, tree: etree._Element) -> None:
        if self._schema.validate(tree):
            return
        raise DocumentError(
            f"does not conform to {self.path.parent.name}/{self.path.name}",
            messages=self.messages(),
        )

    def messages(self) -> list[str]:
        out = []
        for err in cast("list[Any]", list(self._schema.error_log))[:MAX_MESSAGES]:  # type: ignore[call-overload]
            where = f" at {err.path}" if err.path else ""
            out.append(f"{err.line}:{err.column}{where}: {err.message}")
        return out


@cache
def load_schema(path: Path) -> CompiledSchema:
    return CompiledSchema(path)
