"""The issuing step: a credential format's draft becomes an issued, secured credential.

For each draft (a batch at a time): the version id, `urn:uuid:` + UUID 5 (namespace: the
issuer DID) of `<kind>:<record id>:<SHA-256 of the draft>`, so two different contents
for one certificate never share an id and the same content always gets the same one; the
issuer DID; status entries placed in the lists (kept for an id seen before); `validFrom`,
the first issue time of that id (the certificate's own dates are in the subject); the whole
credential checked against its schema; rendered; signed as vc+jwt when a key is configured. The
record's standing sets the bits of every version of its subject. Changed lists are then
published: re-encoded, signed, stored.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from exchange.credentials import bitstring, jws
from exchange.credentials.did import Issuer
from exchange.credentials.keys import CredentialKey
from exchange.credentials.standing import Standing
from exchange.credentials.status_store import Placement, StatusRequest, StatusStore
from exchange.errors import DocumentError, RecordError, Reject
from exchange.partner import PartnerFormat
from exchange.pipeline import Conversion, Converted


@dataclass(frozen=True, slots=True)
class Issued:
    credential_id: str
    subject: str
    """`<kind>:<record id>`: what a consumer keeps the latest version of."""
    document: bytes
    """The issued credential, JSON-LD (what `.jsonld` files hold)."""
    jwt: str | None
    """The same credential secured as a compact JWS; None without a key."""
    sha256: str
    """Of what is delivered: the JWS when signed, else the JSON-LD."""
    issued_at: str

    @property
    def body(self) -> bytes:
        return self.jwt.encode("ascii") if self.jwt is not None else self.document

    @property
    def media_type(self) -> str:
        return jws.MEDIA_TYPE if self.jwt is not None else "application/ld+json"


@dataclass(frozen=True, slots=True)
class PublishedList:
    purpose: str
    number: int
    credential: bytes
    jwt: str | None


def subject_of(kind: str, record_id: str) -> str:
    return f"{kind}:{record_id}"


class CredentialIssuer:
    def __init__(
        self,
        issuer: Issuer,
        key: CredentialKey | None,
        store: StatusStore,
        formats: Mapping[str, PartnerFormat],
    ):
        self.issuer = issuer
        self.key = key
        self.store = store
        self.formats = dict(formats)
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, issuer.did)
        self._kid = issuer.kid(key) if key is not None else ""

    def version_id(self, doc: Converted) -> str:
        digest = hashlib.sha256(doc.document).hexdigest()
        return f"urn:uuid:{uuid.uuid5(self._namespace, f'{doc.kind}:{doc.record_id}:{digest}')}"

    def issue(self, drafts: Sequence[Converted]) -> list[Issued | RecordError]:
        """Issue a batch of drafts (in order); a draft that cannot be issued is a
        RecordError in its place (our own output failing its schema: a bug, said loud)."""
        ids = [self.version_id(d) for d in drafts]
        requests = [
            StatusRequest(cid, subject_of(d.kind, d.record_id), Standing(d.standing or Standing.ACTIVE))
            for cid, d in zip(ids, drafts, strict=True)
        ]
        placed = self.store.place(requests)
        out: list[Issued | RecordError] = []
        for cid, draft in zip(ids, drafts, strict=True):
            try:
                out.append(self._complete(draft, cid, placed[cid]))
            except (DocumentError, ValueError) as exc:
                out.append(RecordError(f"BUG: the issued {draft.partner} credential fails its schema: {exc}"))
        return out

    def _complete(self, draft: Converted, cid: str, place: Placement) -> Issued:
        fmt = self.formats[draft.partner]
        document: dict[str, Any] = fmt.draft_of(draft.document)
        document["id"] = cid
        issuer = document.get("issuer")
        if isinstance(issuer, dict):
            document["issuer"] = {**issuer, "id": self.issuer.did}
        else:
            document["issuer"] = self.issuer.did
        document["validFrom"] = place.issued_at[:19] + "Z"
        document["credentialStatus"] = bitstring.entries(
            self.issuer.status_list_url, place.list_number, place.index
        )
        fmt.validate_issued(draft.kind, document, draft_checked=True)  # the Converter checked the rest
        data = fmt.render(document)
        token = jws.sign(data, self.key, self._kid) if self.key is not None else None
        body = token.encode("ascii") if token is not None else data
        return Issued(
            cid,
            subject_of(draft.kind, draft.record_id),
            data,
            token,
            hashlib.sha256(body).hexdigest(),
            place.issued_at,
        )

    def publish_lists(self) -> list[PublishedList]:
        """Every list changed since it was last published: encoded, signed, stored."""
        published = []
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for item in self.store.unpublished():
            url = self.issuer.status_list_url(item.purpose, item.list_number)
            credential = bitstring.list_credential(
                url=url, issuer=self.issuer.did, purpose=item.purpose, bits=item.bits, valid_from=now
            )
            data = json.dumps(credential, separators=(",", ":")).encode("utf-8")
            token = jws.sign(data, self.key, self._kid) if self.key is not None else None
            if self.store.publish(item, data.decode("utf-8"), token):
                published.append(PublishedList(item.purpose, item.list_number, data, token))
        return published


def issue_conversions(issuer: CredentialIssuer, conversions: Sequence[Conversion]) -> None:
    """Issue, in place, every credential draft of these conversions (one batch): each
    becomes what is sent (the vc+jwt, or the issued JSON-LD without a key); one that
    cannot be issued becomes a reject of its record. Changed lists are then published."""
    drafts = [(c, d) for c in conversions for d in c.converted if d.standing and d.partner in issuer.formats]
    if not drafts:
        return
    outcomes = issuer.issue([d for _, d in drafts])
    for (conversion, draft), outcome in zip(drafts, outcomes, strict=True):
        at = conversion.converted.index(draft)
        if isinstance(outcome, RecordError):
            del conversion.converted[at]
            conversion.rejects.append(
                Reject(
                    source=SOURCE_ISSUING,
                    location=draft.kind.value,
                    record_id=draft.record_id,
                    field=None,
                    reason=outcome.reason,
                    partner=draft.partner,
                )
            )
            continue
        conversion.converted[at] = replace(
            draft,
            document=outcome.body,
            media_type=outcome.media_type,
            sha256=outcome.sha256,
            credential_id=outcome.credential_id,
        )
    issuer.publish_lists()


SOURCE_ISSUING = "issuing"


def issuer_from_env(formats: Mapping[str, PartnerFormat], audit_url: str | None) -> CredentialIssuer | None:
    """The issuing step for the formats that issue credentials (None when none does), its
    key and DID from the environment, its status lists in the audit database."""
    issuing = {p: f for p, f in formats.items() if f.issues_credentials}
    if not issuing:
        return None
    return CredentialIssuer(Issuer.from_env(), CredentialKey.from_env(), StatusStore(audit_url), issuing)


NO_KEY_NOTE = (
    "credentials are not signed: no credential key (set EXCHANGE_CREDENTIAL_KEY to an EC P-256 "
    "PEM key; `exchange keys generate --out keys/` makes one), so only .jsonld is written"
)
