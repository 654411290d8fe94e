"""XML partner formats driven by a manifest, templates and code lists under mappings/<partner>/.

A manifest (`mappings/<partner>/format.toml`) names, per family, the template and the XSD:

    partner = "eu"
    codes = "codes.toml"
    [families.ccc]
    template = "ccc.xml"
    schema = "eu/ccc-1.0.xsd"

Everything is loaded and compiled when the format is built, never per record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from exchange.errors import ConfigError, DocumentError, RecordError
from exchange.formats.manifest import read_manifest
from exchange.intake import CanonicalRecord
from exchange.mapping.codes import CodeList
from exchange.mapping.template import Template
from exchange.model import Kind
from exchange.partner import PartnerFormat, build_record
from exchange.resources import schema_path
from exchange.xml.safe import DEFAULT_LIMITS, Limits, hardened_parser, parse_bytes
from exchange.xml.schema import CompiledSchema, load_schema

_OUTPUT_PARSER = hardened_parser()


@dataclass(frozen=True, slots=True)
class XmlFamily:
    kind: Kind
    template: Template
    schema: CompiledSchema


class XmlPartnerFormat(PartnerFormat):
    suffix = ".xml"
    media_type = "application/xml"

    def __init__(self, partner: str, families: Mapping[Kind, XmlFamily], codes: Mapping[str, CodeList]):
        self.partner = partner
        self._families = dict(families)
        self._codes = dict(codes)
        self._by_tag = {f.template.tag: f for f in self._families.values()}
        self._by_ns = {f.template.namespace: f for f in self._families.values()}
        for fam in self._families.values():
            if fam.template.namespace != fam.schema.target_namespace:
                raise ConfigError(
                    f"{fam.template.path}: namespace {fam.template.namespace!r} differs from "
                    f"the target namespace of {fam.schema.path} ({fam.schema.target_namespace!r})"
                )

    @classmethod
    def from_manifest(cls, partner: str, manifest: Path | None = None) -> XmlPartnerFormat:
        m = read_manifest(partner, manifest)
        name = m.spec.get("partner", partner)
        families = {
            kind: XmlFamily(
                kind,
                Template(m.base / fam["template"], m.codes, name),
                load_schema(schema_path(*fam["schema"].split("/"))),
            )
            for kind, fam in m.families().items()
        }
        return cls(name, families, m.codes)

    @property
    def families(self) -> frozenset[Kind]:
        return frozenset(self._families)

    def _family(self, kind: Kind) -> XmlFamily:
        try:
            return self._families[kind]
        except KeyError:
            raise RecordError(f"the {self.partner} format has no {kind} documents") from None

    def map(self, record: CanonicalRecord) -> bytes:
        """The document as bytes: templates write text directly (see mapping/codegen.py)."""
        return self._family(record.kind).template.render(record)

    def validate(self, kind: Kind, document: bytes) -> None:
        """Parse our own output back and check it: what is validated is what is sent."""
        try:
            tree = etree.fromstring(document, _OUTPUT_PARSER)
        except etree.XMLSyntaxError as exc:
            raise DocumentError(f"output is not well-formed: {exc}") from None
        self._family(kind).schema.check(tree)

    def render(self, document: bytes) -> bytes:
        return document

    def _family_of(self, root: etree._Element) -> XmlFamily:
        fam = self._by_tag.get(str(root.tag))
        if fam is None:
            raise DocumentError(f"root element {root.tag} is not a {self.partner} document")
        return fam

    def check_bytes(self, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Kind:
        root = parse_bytes(data, limits=limits)
        fam = self._family_of(root)
        fam.schema.check(root)
        return fam.kind

    def parse(self, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> CanonicalRecord:
        root = parse_bytes(data, limits=limits)
        fam = self._family_of(root)
        fam.schema.check(root)
        values = fam.template.parse(root)
        values["kind"] = fam.kind.value
        return build_record(fam.kind, values, source=f"{self.partner} {fam.kind} document")

    def namespaces(self) -> Mapping[str, Kind]:
        return {ns: fam.kind for ns, fam in self._by_ns.items()}

    def code_lists(self, kind: Kind) -> Mapping[str, CodeList]:
        fam = self._family(kind)
        return {name: expr.codes for name, expr in fam.template.code_lists_used.items() if expr.codes}
