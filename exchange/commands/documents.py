"""`exchange validate` and `exchange import`: partner documents in, checked or canonical out.

The schema is chosen by the document itself: an XML root namespace names its partner
format; JSON documents go to the JSON formats (the `bri` credentials)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from exchange.config import ExchangeConfig
from exchange.errors import ConfigError, DocumentError, ExchangeError, RecordError
from exchange.intake import CanonicalRecord
from exchange.model import Kind
from exchange.partner import PartnerFormat
from exchange.registry import partner_format
from exchange.sinks import safe_name
from exchange.xml.safe import MAX_BYTES, parse_bytes


class UnreadableInput(ExchangeError):
    """The file cannot be read at all (missing, a directory, permissions)."""


@dataclass(frozen=True, slots=True)
class Located:
    partner: str
    format: PartnerFormat


def read_document(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot read: {exc.strerror or exc}") from None
    return data


def _loadable_formats(config: ExchangeConfig) -> tuple[list[tuple[str, PartnerFormat]], dict[str, str]]:
    """Every partner format that loads, and why the others do not: one partner's broken
    mapping must not stop documents of another being read."""
    formats: list[tuple[str, PartnerFormat]] = []
    broken: dict[str, str] = {}
    for name, agreement in config.partners.items():
        try:
            formats.append((name, partner_format(agreement)))
        except ConfigError as exc:
            broken[name] = str(exc)
    return formats, broken


def _unmatched(reason: str, broken: dict[str, str]) -> DocumentError:
    if not broken:
        return DocumentError(reason)
    details = "; ".join(f"{name}: {why}" for name, why in sorted(broken.items()))
    return DocumentError(f"{reason} (formats not loaded, their configuration is broken: {details})")


def locate(data: bytes, config: ExchangeConfig) -> Located:
    """Which partner format owns this document."""
    formats, broken = _loadable_formats(config)
    head = data.lstrip()[:1]
    if head == b"<":
        root = parse_bytes(data)
        namespace = etree.QName(root).namespace or ""
        for name, fmt in formats:
            if fmt.suffix == ".xml" and namespace in fmt.namespaces():
                return Located(name, fmt)
        raise _unmatched(f"no partner format has the namespace {namespace!r}", broken)
    if head in (b"{", b"["):
        json_formats = [(n, f) for n, f in formats if f.suffix != ".xml"]
        last: DocumentError | None = None
        for name, fmt in json_formats:
            try:
                fmt.check_bytes(data)
            except DocumentError as exc:
                last = exc
                continue
            return Located(name, fmt)
        raise last or _unmatched("no partner format reads JSON documents", broken)
    raise DocumentError("neither an XML nor a JSON document")


def validate_document(data: bytes, config: ExchangeConfig) -> tuple[str, Kind]:
    """(partner, kind) when valid; DocumentError with line:column messages when not."""
    located = locate(data, config)
    return located.partner, located.format.check_bytes(data)


def import_document(data: bytes, config: ExchangeConfig) -> tuple[str, CanonicalRecord]:
    located = locate(data, config)
    return located.partner, located.format.parse(data)


def write_canonical(record: CanonicalRecord, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{record.kind}-{safe_name(record.record_id)}.json"
    payload = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


__all__ = [
    "DocumentError",
    "RecordError",
    "UnreadableInput",
    "import_document",
    "read_document",
    "validate_document",
    "write_canonical",
]
