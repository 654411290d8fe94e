"""Compiled XSDs: loaded once per file, validating trees in memory on the hot path."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from exchange.errors import ConfigError, DocumentError
from exchange.xml.safe import hardened_parser

MAX_MESSAGES = 20
_XS = "{http://www.w3.org/2001/XMLSchema}"
_DS_NS = "http://www.w3.org/2000/09/xmldsig#"


class CompiledSchema:
    """One XSD, compiled; `check` raises DocumentError with line:column messages."""

    def __init__(self, path: Path):
        self.path = path
        try:
            doc = etree.parse(str(path), parser=hardened_parser())
            self._schema = etree.XMLSchema(doc)
        except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            raise ConfigError(f"schema {path} cannot be compiled: {exc}") from None
        top = doc.getroot()
        self.target_namespace: str = top.get("targetNamespace", "")
        fixed = cast(
            "list[str]",
            top.xpath(
                "xs:element/xs:complexType/xs:attribute[@name='version']/@fixed",
                namespaces={"xs": _XS[1:-1]},
            ),
        )
        self.document_version: str | None = str(fixed[0]) if len(fixed) == 1 else None
        """The value the root's `version` attribute is fixed to (partner formats), if any."""
        self.declares_signature = any(
            imp.get("namespace") == _DS_NS for imp in top.iterchildren(f"{_XS}import")
        )
        """True when the schema imports XML Signature: it says where a ds:Signature may go."""
        self.declares_record_version = bool(
            top.xpath(
                "xs:element/xs:complexType/xs:attribute[@name='recordVersion']",
                namespaces={"xs": _XS[1:-1]},
            )
        )
        """True when the root has a `recordVersion` attribute (format 1.2 on)."""

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
