"""The conversion pipeline: accepted record -> (score) -> per partner: scope, map,
validate, render. Each step is a small function; transports and the CLI drive it."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from exchange.config import Agreement, ExchangeConfig
from exchange.credentials.standing import standing_of
from exchange.errors import ConfigError, DocumentError, RecordError, Reject
from exchange.intake import Accepted, CanonicalRecord
from exchange.model import Kind, PtRound
from exchange.partner import PartnerFormat
from exchange.registry import partner_format
from exchange.scope import out_of_scope
from exchange.wire import PickledAsFields


@dataclass(frozen=True, slots=True)
class Converted(PickledAsFields):
    """One validated partner document, ready to sign and deliver."""

    partner: str
    kind: Kind
    record_id: str
    document: bytes
    suffix: str
    media_type: str
    sha256: str
    standing: str = ""
    """For a credential the issuing step completes: what the record says of its subject
    (exchange.credentials.standing), which sets its status bits; "" otherwise."""
    credential_id: str = ""
    """Once issued: the credential's (version) id; the document is then what is sent."""


@dataclass(frozen=True, slots=True)
class OutOfScope(PickledAsFields):
    partner: str
    kind: Kind
    record_id: str
    reason: str


@dataclass(slots=True)
class Conversion(PickledAsFields):
    """Everything one record became: documents, partners it was not for, rejects."""

    record_id: str | None
    converted: list[Converted] = field(default_factory=list)
    skipped: list[OutOfScope] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def enrich(record: CanonicalRecord) -> CanonicalRecord:
    """Canonical enrichment before mapping: PT rounds get their ISO 13528 scores."""
    if isinstance(record, PtRound):
        from exchange.pt import score_round

        return score_round(record)
    return record


@dataclass(frozen=True, slots=True)
class Route:
    agreement: Agreement
    format: PartnerFormat


class Converter:
    """Converts canonical records for a fixed set of partners; built once, used per record."""

    def __init__(self, config: ExchangeConfig, partners: Sequence[str]):
        unknown = [p for p in partners if p not in config.partners]
        if unknown:
            known = ", ".join(sorted(config.partners))
            raise ConfigError(f"unknown partner {', '.join(unknown)} (configured: {known})")
        from exchange.checks import check_mappings

        self.routes = [Route(config.partners[p], partner_format(config.partners[p])) for p in partners]
        check_mappings(config, partners)

    def convert(
        self, accepted: Accepted, only: Collection[str] | None = None, version: int | None = None
    ) -> Conversion:
        """Convert for every routed partner, or for those in `only` (a message's own list);
        `version`, the record's version number, goes into every format that has a place
        for it (PartnerFormat.stamp_version)."""
        record = accepted.record
        record_id = record.record_id
        result = Conversion(record_id)
        try:
            record = enrich(record)
        except RecordError as exc:
            result.rejects.append(_reject(accepted, record_id, exc, None))
            return result
        for route in self.routes:
            partner = route.agreement.partner
            if only is not None and partner not in only:
                continue
            reason = out_of_scope(route.agreement, record)
            if reason is not None:
                result.skipped.append(OutOfScope(partner, record.kind, record_id, reason))
                continue
            try:
                document = route.format.map(record)
                if version is not None:
                    document = route.format.stamp_version(record.kind, document, version)
                route.format.validate(record.kind, document)
                data = route.format.render(document)
            except RecordError as exc:
                result.rejects.append(_reject(accepted, record_id, exc, partner))
                continue
            except DocumentError as exc:
                # Our own output failing our own schema is a bug: never written, always loud.
                bug = RecordError(f"BUG: the {partner} document fails its schema: {exc}")
                result.rejects.append(_reject(accepted, record_id, bug, partner))
                continue
            result.converted.append(
                Converted(
                    partner,
                    record.kind,
                    record_id,
                    data,
                    route.format.suffix,
                    route.format.media_type,
                    hashlib.sha256(data).hexdigest(),
                    standing_of(record).value if route.format.issues_credentials else "",
                )
            )
        return result


def _reject(accepted: Accepted, record_id: str, exc: RecordError, partner: str | None) -> Reject:
    return Reject(
        source=accepted.source,
        location=accepted.location,
        record_id=exc.record_id or record_id,
        field=exc.field,
        reason=exc.reason,
        partner=partner,
    )
