"""JSON-LD partner formats (W3C Verifiable Credentials) driven by a manifest, JSON
templates, code lists and JSON Schemas: nothing partner-specific lives in this module.

The manifest (`mappings/<partner>/format.toml`) names, per family, the template and
the schema, plus what all families share:

    partner = "bri"
    codes = "codes.toml"
    id_namespace = "…"                   # UUID namespace of the $uuid5 credential ids
    profile_path = "credentialSchema.id" # where a credential names its profile
    [context]                            # the credentials' @context: {"$shared": "context"}
    base = ["https://www.w3.org/ns/credentials/v2", …]
    extension = "bri/…-1.1.jsonld"       # ours, under schemas/; see exchange/contexts.py
    [shared.issuer]                      # constants templates use as {"$shared": "issuer"}
    …
    [families.ccc]
    template = "ccc.json"
    schema = "bri/ccc-credential-1.1.json"
    # older profiles still read (inbound, verify-credential): schema and the extension
    # context credentials of that profile name
    accepted = [{schema = "bri/ccc-credential-1.0.json", extension = "bri/…-1.0.jsonld"}]

A family's profile URI is its schema's `$id`; the template must write exactly that value
at `profile_path` (checked at start-up), and documents are routed to a family by it, the
way XML documents are routed by namespace. An accepted older profile differs from the
current one only by what the newer added (optional properties, context terms): its
credentials are read with the same template, under their own profile and context.
A schema that declares a top-level `recordVersion` gets the record's version number
(`stamp_version`, docs/versions.md). Everything is loaded and compiled when the format is
built, never per record.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange.contexts import ROUTE, context_url, public_url
from exchange.errors import ConfigError, DocumentError, RecordError
from exchange.formats.json_schema import CompiledJsonSchema
from exchange.formats.manifest import read_manifest
from exchange.formats.safe_json import DEFAULT_JSON_LIMITS, JsonLimits, loads
from exchange.intake import CanonicalRecord
from exchange.mapping.codes import CodeList
from exchange.mapping.json_template import Compiler, Node, code_lists_of, load_template_json
from exchange.model import MODEL_BY_KIND, Kind
from exchange.partner import PartnerFormat, build_record
from exchange.resources import schema_path

RECORD_VERSION = "recordVersion"
"""The top-level property a profile carries the record's version number in, when its
schema declares it (bri 1.1 on; docs/versions.md)."""


@dataclass(frozen=True, slots=True)
class OlderProfile:
    """A profile still read, not written: its schemas and the @context its credentials name."""

    schema: CompiledJsonSchema
    draft: CompiledJsonSchema
    context: tuple[str, ...] | None
    """None: the same @context as the profile written."""

    @property
    def id(self) -> str:
        return self.schema.id


@dataclass(frozen=True, slots=True)
class JsonFamily:
    kind: Kind
    template: Node
    schema: CompiledJsonSchema
    source: Path
    draft: CompiledJsonSchema
    """The schema with the issued fields optional: what the template alone must give."""
    issued_part: CompiledJsonSchema
    """The schema of just the fields the issuing step sets."""
    accepted: tuple[OlderProfile, ...] = ()
    """Older profiles of the family still read (inbound, verify-credential)."""

    @property
    def profile(self) -> str:
        return self.schema.id

    @property
    def numbered(self) -> bool:
        """Whether the profile written has a place for the record's version number."""
        return RECORD_VERSION in self.schema.properties


class JsonLdPartnerFormat(PartnerFormat):
    suffix = ".jsonld"
    media_type = "application/ld+json"

    def __init__(
        self,
        partner: str,
        families: Mapping[Kind, JsonFamily],
        codes: Mapping[str, CodeList],
        *,
        profile_path: str = "credentialSchema.id",
        limits: JsonLimits = DEFAULT_JSON_LIMITS,
    ):
        self.partner = partner
        self._families = dict(families)
        self._codes = dict(codes)
        self._profile_keys = profile_path.split(".")
        self._limits = limits
        self._by_profile: dict[str, tuple[JsonFamily, OlderProfile | None]] = {}
        for fam in self._families.values():
            for profile, older in [(fam.profile, None), *((o.id, o) for o in fam.accepted)]:
                if profile in self._by_profile:
                    raise ConfigError(f"{fam.source}: profile {profile!r} is named twice")
                self._by_profile[profile] = (fam, older)
        self._code_lists = {k: code_lists_of(f.template) for k, f in self._families.items()}
        self._drafts: dict[bytes, Any] = {}
        """Rendered draft -> the document it was rendered from, taken once by `draft_of`
        (the issuing step): parsing the bytes again cost it more than signing."""
        self.issues_credentials = any(
            "credentialStatus" in f.schema.properties for f in self._families.values()
        )
        """Credentials whose schema has status entries: the issuing step completes them
        (exchange/credentials/issuer.py); until then they are drafts."""

    @classmethod
    def from_manifest(cls, partner: str, manifest: Path | None = None) -> JsonLdPartnerFormat:
        m = read_manifest(partner, manifest)
        spec, base, codes, manifest = m.spec, m.base, m.codes, m.path
        try:
            namespace = uuid.UUID(spec["id_namespace"]) if "id_namespace" in spec else None
        except ValueError:
            raise ConfigError(f"{manifest}: id_namespace is not a UUID") from None
        name = spec.get("partner", partner)
        shared = dict(spec.get("shared", {}))
        if "context" in spec:
            shared["context"] = _context(spec["context"], manifest)
        context_spec = spec.get("context", {})
        compiler = Compiler(codes, name, shared=shared, id_namespace=namespace)
        profile_path = spec.get("profile_path", "credentialSchema.id")
        families: dict[Kind, JsonFamily] = {}
        for kind, fam in m.families().items():
            family = kind.value
            if not isinstance(fam, dict) or not {"template", "schema"} <= fam.keys():
                raise ConfigError(f"{manifest}: family {family!r} needs a template and a schema")
            path = base / fam["template"]
            raw = load_template_json(path)
            schema = CompiledJsonSchema(schema_path(*fam["schema"].split("/")))
            draft = CompiledJsonSchema(schema.path, unrequire=ISSUED_FIELDS)
            part = CompiledJsonSchema(schema.path, only=ISSUING_SETS)
            written = _lookup(raw, profile_path.split("."))
            if written != schema.id:
                raise ConfigError(
                    f"{path}: {profile_path} is {written!r}, but {schema.path} has "
                    f"$id {schema.id!r}: the template must name its schema's profile"
                )
            node = compiler.compile(raw, MODEL_BY_KIND[kind], str(path))
            older = tuple(_older(entry, context_spec, manifest, family) for entry in fam.get("accepted", ()))
            families[kind] = JsonFamily(kind, node, schema, path, draft, part, older)
        try:
            limits = JsonLimits(**spec.get("limits", {}))
        except TypeError as exc:
            raise ConfigError(f"{manifest}: [limits]: {exc}") from None
        fmt = cls(name, families, codes, profile_path=profile_path, limits=limits)
        fmt.not_carried = m.not_carried()
        return fmt

    @property
    def families(self) -> frozenset[Kind]:
        return frozenset(self._families)

    def _family(self, kind: Kind) -> JsonFamily:
        try:
            return self._families[kind]
        except KeyError:
            raise RecordError(f"the {self.partner} format has no {kind} documents") from None

    # -- out --------------------------------------------------------------------------

    def map(self, record: CanonicalRecord) -> dict[str, Any]:
        document: dict[str, Any] = self._family(record.kind).template.render(record, record)
        return document

    def stamp_version(self, kind: Kind, document: Any, version: int) -> Any:
        """`recordVersion: N` after the credential's `id`, when the family's profile
        declares it (bri 1.1); before issuing, so the signature covers it and each number
        is its own credential version."""
        if not self._family(kind).numbered or not isinstance(document, dict):
            return document
        stamped: dict[str, Any] = {}
        for key, value in document.items():
            if key != RECORD_VERSION:
                stamped[key] = value
            if key == "id":
                stamped[RECORD_VERSION] = version
        if RECORD_VERSION not in stamped:
            stamped[RECORD_VERSION] = version
        return stamped

    def validate(self, kind: Kind, document: Any) -> None:
        """A mapped document; for a credential the issuer completes, as a draft."""
        fam = self._family(kind)
        (fam.draft if self.issues_credentials else fam.schema).check(document)

    def validate_issued(self, kind: Kind, document: Any, *, draft_checked: bool = False) -> None:
        """An issued credential: the whole schema, status entries included. When the rest
        was checked as a draft (`validate`) and only the issuing step changed it since,
        `draft_checked` checks just what that step set (a fifth of the time)."""
        fam = self._family(kind)
        if draft_checked:
            fam.issued_part.check({k: document[k] for k in ISSUING_SETS if k in document})
        else:
            fam.schema.check(document)

    def render(self, document: Any) -> bytes:
        """Compact UTF-8 JSON, keys in template order (the same record, the same bytes)."""
        data = _ENCODER.encode(document).encode("utf-8")
        if self.issues_credentials and "credentialStatus" not in document:
            drafts = self._drafts
            if len(drafts) >= DRAFTS_KEPT:  # drafts never issued (e.g. rejected): oldest out
                del drafts[next(iter(drafts))]
            drafts[data] = document
        return data

    def draft_of(self, data: bytes) -> Any:
        """The document `data` was rendered from, if kept (once: the caller completes it
        in place); else parsed again. Equal bytes, equal document, either way."""
        document = self._drafts.pop(data, None)
        return json.loads(data) if document is None else document

    # -- in ---------------------------------------------------------------------------

    def _family_of(self, document: Any) -> tuple[JsonFamily, OlderProfile | None]:
        """The family and, for an older profile still read, that profile (else None)."""
        if not isinstance(document, dict):
            raise DocumentError(f"a {self.partner} credential is a JSON object")
        profile = _lookup(document, self._profile_keys)
        found = self._by_profile.get(profile) if isinstance(profile, str) else None
        if found is None:
            raise DocumentError(
                f"{'.'.join(self._profile_keys)} is {repr(profile)[:80]}, not a {self.partner} "
                f"profile ({', '.join(sorted(self._by_profile))})"
            )
        return found

    def _read(self, data: bytes, limits: JsonLimits | None) -> tuple[JsonFamily, CanonicalRecord]:
        document = loads(data, limits=limits or self._limits)
        fam, older = self._family_of(document)
        schema, draft = (fam.schema, fam.draft) if older is None else (older.schema, older.draft)
        if self.issues_credentials and "credentialStatus" not in document:
            draft.check(document)  # as mapped, not issued yet (what `convert` returns)
        else:
            schema.check(document)
        values: dict[str, Any] = {}
        fam.template.read(document, values, values)
        values["kind"] = fam.kind.value
        record = build_record(fam.kind, values, source=f"{self.partner} {fam.kind} credential")
        # The credential id, names and flags are derived from the carried values, so a
        # credential we wrote maps back to itself exactly. Anything else was altered
        # after it was written (there is no proof yet to catch that: signing comes later).
        try:
            again = self.map(record)
        except RecordError as exc:  # e.g. a category code no code list knows
            raise DocumentError(f"the credential cannot be written back: {exc}") from None
        if older is not None:  # the template writes the current profile: this one's names
            _set(again, self._profile_keys, older.id)
            if older.context is not None:
                again["@context"] = list(older.context)
        if RECORD_VERSION in document:  # set by the service, not derived (the schema checked it)
            again[RECORD_VERSION] = document[RECORD_VERSION]
        if self.issues_credentials and "credentialStatus" in document:
            _take_issued(again, document)  # issued: its proof vouches for these
        if again != document:
            where = _first_difference(document, again, "$")
            if where.startswith("$.@context"):
                raise DocumentError(
                    f"the credential names the contexts {_lookup(document, ['@context'])!r}, this "
                    f"service {again['@context']!r} (issued under another EXCHANGE_PUBLIC_URL?)"
                )
            raise DocumentError(
                f"the credential is not self-consistent: {where} differs from what its "
                "own values give (altered after issue?)"
            )
        return fam, record

    def parse(self, data: bytes, *, limits: JsonLimits | None = None) -> CanonicalRecord:
        return self._read(data, limits)[1]

    def check_bytes(self, data: bytes, *, limits: JsonLimits | None = None) -> Kind:
        """Schema-valid, a valid canonical record, self-consistent (see `_read`): the family.

        Everything wrong with the bytes is a DocumentError here, including values the
        canonical model refuses (parse reports those as RecordError naming the field).
        """
        try:
            return self._read(data, limits)[0].kind
        except RecordError as exc:
            raise DocumentError(f"the credential does not hold a valid record: {exc}") from None

    def namespaces(self) -> Mapping[str, Kind]:
        """Profile URI (each schema's $id, written at profile_path) -> family.

        Every family's credential has the same `type` (DigitalConformityCredential), so
        the type alone cannot tell the families apart; the profile can. Older profiles
        still read are included.
        """
        return {profile: fam.kind for profile, (fam, _) in self._by_profile.items()}

    def code_lists(self, kind: Kind) -> Mapping[str, CodeList]:
        self._family(kind)
        return self._code_lists[kind]


DRAFTS_KEPT = 4096
"""Drafts rendered and not yet issued that `draft_of` can hand back (a batch is 250)."""
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":"))
"""Compact (one line: fit for a stream), non-ASCII as UTF-8; documents are trees."""


def _context(spec: Any, manifest: Path) -> list[str]:
    """[context] of a manifest -> the @context list: the base URLs, then each extension's
    public URL (the file must exist under schemas/: it is what `exchange run` serves)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("base", []), list):
        raise ConfigError(f"{manifest}: [context] needs base = [URL, ...] and extension = PATH")
    urls = [str(u) for u in spec.get("base", [])]
    extensions = spec.get("extension", [])
    for ext in [extensions] if isinstance(extensions, str) else extensions:
        path = schema_path(*str(ext).split("/"))
        if not path.is_file():
            raise ConfigError(f"{manifest}: [context] extension {ext!r} is not a file under schemas/")
        urls.append(context_url(path.name))
    return urls


def _older(entry: Any, context: Any, manifest: Path, family: str) -> OlderProfile:
    """An `accepted` entry: {schema = PATH, extension = PATH} (the extension context its
    credentials name instead of the current one; left out: the same context)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("schema"), str):
        raise ConfigError(
            f"{manifest}: families.{family}.accepted entries are {{schema = PATH, extension = PATH}}"
        )
    path = schema_path(*entry["schema"].split("/"))
    schema = CompiledJsonSchema(path)
    draft = CompiledJsonSchema(path, unrequire=ISSUED_FIELDS)
    names = None
    if "extension" in entry:
        base = context.get("base", []) if isinstance(context, dict) else []
        names = tuple(_context({"base": base, "extension": entry["extension"]}, manifest))
    return OlderProfile(schema, draft, names)


ISSUED_FIELDS = frozenset({"credentialStatus", "validFrom"})
"""What the issuing step adds to a mapped credential (the status entries, and validFrom:
when this version was first issued; the certificate's own dates are in the subject): a
draft lacks them."""


ISSUING_SETS = frozenset({"id", "issuer", "validFrom", "credentialStatus"})
"""Every top-level field the issuing step writes (exchange/credentials/issuer.py)."""


def _take_issued(again: dict[str, Any], document: dict[str, Any]) -> None:
    """The fields the issuing step sets (version id, issuer DID, status entries, issue
    time), taken from the document read: the proof (vc+jwt) is what vouches for them, the
    template cannot derive them. Our contexts are expected under the issuer's public URL,
    the base its status lists are under (one base for both): a verifier elsewhere, with
    another EXCHANGE_PUBLIC_URL or none, reads our credentials all the same."""
    for key in ("id", "credentialStatus", "validFrom"):
        if key in document:
            again[key] = document[key]
    issuer, theirs = again.get("issuer"), document.get("issuer")
    if isinstance(issuer, dict) and isinstance(theirs, dict) and "id" in theirs:
        again["issuer"] = {**issuer, "id": theirs["id"]}
    base = _issuer_base(document.get("credentialStatus"))
    ours = public_url() + ROUTE
    if base is not None and isinstance(again.get("@context"), list):
        again["@context"] = [
            base + ROUTE + url.removeprefix(ours) if isinstance(url, str) and url.startswith(ours) else url
            for url in again["@context"]
        ]


def _issuer_base(entries: Any) -> str | None:
    """The public URL an issued credential's status lists are under (<base>/status/...)."""
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        return None
    url = entries[0].get("statusListCredential")
    if not isinstance(url, str) or "/status/" not in url:
        return None
    return url.rsplit("/status/", 1)[0]


def _lookup(document: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _set(document: dict[str, Any], keys: list[str], value: Any) -> None:
    """`value` at the path, copying the objects on the way (a template may share them)."""
    for key in keys[:-1]:
        inner = document.get(key)
        document[key] = dict(inner) if isinstance(inner, dict) else {}
        document = document[key]
    document[keys[-1]] = value


def _first_difference(a: Any, b: Any, where: str) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{where}.{key}"
            if a[key] != b[key]:
                return _first_difference(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
        if len(a) != len(b):
            return f"{where}[{min(len(a), len(b))}]"
    return where
