"""XML partner formats driven by a manifest, templates and code lists under mappings/<partner>/.

A manifest (`mappings/<partner>/format.toml`) names, per family, the template and the XSD:

    partner = "eu"
    codes = "codes.toml"
    [families.ccc]
    template = "ccc.xml"
    schema = "eu/ccc-1.1.xsd"          # what we write (the template's version)
    accepted = ["eu/ccc-1.0.xsd"]      # older versions still read, during a transition

A schema named `./x.xsd` (or `../x.xsd`) is found beside the manifest instead of under
`schemas/`: a partner kept outside this repository is one folder (docs/mapping.md).

Documents name their version in the root's `version` attribute; each is checked against
the schema of that version. An older schema that declares no ds:Signature (1.0) is
applied with the enveloped signature set aside, as before 1.1 (docs/signatures.md).
Everything is loaded and compiled when the format is built, never per record.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from exchange.errors import ConfigError, DocumentError, RecordError
from exchange.formats.manifest import read_manifest
from exchange.intake import CanonicalRecord
from exchange.mapping.codes import CodeList
from exchange.mapping.fields import record_type
from exchange.mapping.template import Template
from exchange.model import Kind
from exchange.partner import PartnerFormat, build_record
from exchange.resources import schema_path
from exchange.signing import DS_NS
from exchange.xml.safe import DEFAULT_LIMITS, Limits, hardened_parser, parse_bytes
from exchange.xml.schema import CompiledSchema, load_schema

_OUTPUT_PARSER = hardened_parser()


_SIGNATURE = f"{{{DS_NS}}}Signature"


@dataclass(frozen=True, slots=True)
class XmlFamily:
    kind: Kind
    template: Template
    schema: CompiledSchema
    """The version we write."""
    accepted: tuple[CompiledSchema, ...] = ()
    """Older versions still read (inbound), each picked by the root's version attribute."""

    def schema_for(self, root: etree._Element) -> CompiledSchema:
        """The schema of the document's own version (ours when it names none we know:
        its errors then say which version is expected)."""
        version = root.get("version")
        for schema in self.accepted:
            if version is not None and schema.document_version == version:
                return schema
        return self.schema

    def check(self, root: etree._Element) -> None:
        """Validate as received; a version whose schema has no place for a signature is
        checked without the enveloped one (the transition rule, docs/signatures.md)."""
        schema = self.schema_for(root)
        if not schema.declares_signature and root.find(_SIGNATURE) is not None:
            root = copy.deepcopy(root)
            for signature in root.findall(_SIGNATURE):
                root.remove(signature)
        schema.check(root)


def with_root_attribute(document: bytes, name: bytes, value: bytes) -> bytes:
    """`name="value"` added to the root's start tag of a document our templates wrote
    (prolog: XML declaration, comments, whitespace; attribute values without `>`), without
    parsing and serialising it again. The schema check that follows sees the result."""
    i = 0
    while True:
        start = document.index(b"<", i)
        if document.startswith(b"<?", start):
            i = document.index(b"?>", start) + 2
        elif document.startswith(b"<!--", start):
            i = document.index(b"-->", start) + 3
        else:
            break
    end = document.index(b">", start)
    if document[end - 1 : end] == b"/":
        end -= 1
    return document[:end] + b" " + name + b'="' + value + b'"' + document[end:]


def _schema_file(base: Path, ref: str) -> Path:
    """`./x.xsd` and `../x.xsd` beside the manifest; anything else under `schemas/`."""
    if ref.startswith(("./", "../")):
        return base / ref
    return schema_path(*ref.split("/"))


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
            for schema in (fam.schema, *fam.accepted):
                if fam.template.namespace != schema.target_namespace:
                    raise ConfigError(
                        f"{fam.template.path}: namespace {fam.template.namespace!r} differs from "
                        f"the target namespace of {schema.path} ({schema.target_namespace!r})"
                    )

    @classmethod
    def from_manifest(cls, partner: str, manifest: Path | None = None) -> XmlPartnerFormat:
        m = read_manifest(partner, manifest)
        name = m.spec.get("partner", partner)
        families = {
            kind: XmlFamily(
                kind,
                Template(m.base / fam["template"], m.codes, name, record_type(kind)),
                load_schema(_schema_file(m.base, fam["schema"])),
                tuple(load_schema(_schema_file(m.base, older)) for older in fam.get("accepted", ())),
            )
            for kind, fam in m.families().items()
        }
        fmt = cls(name, families, m.codes)
        fmt.not_carried = m.not_carried()
        return fmt

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

    def stamp_version(self, kind: Kind, document: bytes, version: int) -> bytes:
        """`recordVersion="N"` on the root, when the family's schema declares it (1.2)."""
        if not self._family(kind).schema.declares_record_version:
            return document
        return with_root_attribute(document, b"recordVersion", str(version).encode("ascii"))

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
        fam.check(root)
        return fam.kind

    def parse(self, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> CanonicalRecord:
        root = parse_bytes(data, limits=limits)
        fam = self._family_of(root)
        fam.check(root)
        values = fam.template.parse(root)
        values["kind"] = fam.kind.value
        return build_record(fam.kind, values, source=f"{self.partner} {fam.kind} document")

    def namespaces(self) -> Mapping[str, Kind]:
        return {ns: fam.kind for ns, fam in self._by_ns.items()}

    def code_lists(self, kind: Kind) -> Mapping[str, CodeList]:
        fam = self._family(kind)
        return {name: expr.codes for name, expr in fam.template.code_lists_used.items() if expr.codes}
