"""bri profile 1.1: the record's version number in the credential (docs/versions.md).

What the service sends (Converter with a version, then the issuing step, vc+jwt) carries
`recordVersion`; checked against implementations we did not write: our 1.1 JSON Schema and
the official UNTP DCC 0.6.1 one (jsonschema), JSON-LD expansion (pyld: the term maps to its
IRI, typed, nothing dropped), the JWS (jwcrypto). File mode writes no number. Credentials of
profile 1.0 are still read (parse, check_bytes, verify-credential); 1.0 has no place for
the number and 1.1 none for the 1.0 context.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jwcrypto import jwk, jws
from pyld import jsonld

from adapters.bri import format as bri
from exchange.config import load_config
from exchange.contexts import public_url
from exchange.credentials.did import Issuer, did_document
from exchange.credentials.issuer import CredentialIssuer, Issued
from exchange.credentials.keys import CredentialKey
from exchange.credentials.status_store import StatusStore
from exchange.credentials.verify import Verifier
from exchange.errors import ConfigError, DocumentError
from exchange.formats.jsonld import JsonLdPartnerFormat
from exchange.intake import Accepted, CanonicalRecord
from exchange.model import Kind
from exchange.pipeline import Converted, Converter
from exchange.resources import mapping_path, schema_path
from tests import canonical_samples as samples
from tests.adapters.bri.test_untp_conformance import dropped_on_expansion
from tests.adapters.bri.untp_reference import REPO, document_loader, local_contexts, official_schema
from tests.credentials.helpers import make_key

RECORDS: dict[str, Callable[[], CanonicalRecord]] = {
    "ccc": samples.certificate,
    "glp": samples.glp_statement,
    "pt": samples.pt_round,  # the Converter scores it
}
TERM = "urn:mra-exchange:dcc-ext:recordVersion"
POSITIVE_INTEGER = "http://www.w3.org/2001/XMLSchema#positiveInteger"


def _schema(family: str, version: str) -> Draft202012Validator:
    path = schema_path("bri", f"{family}-credential-{version}.json")
    return Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def _official() -> Draft202012Validator:
    return Draft202012Validator(official_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _converter() -> Converter:
    """The pipeline as `exchange run` builds it, for bri alone."""
    return Converter(load_config(REPO / "adapters" / "agreements.toml"), ["bri"])


class Service:
    """The service's conversion and issuing steps on a temporary database, with a key;
    the status lists published into a folder and the DID document, as a verifier has them."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.key: CredentialKey = make_key(tmp)
        # the issuer of this service's public URL: its contexts and status lists share a base
        self.id = Issuer.from_env({"EXCHANGE_PUBLIC_URL": public_url()})
        store = StatusStore(f"sqlite:///{tmp / 'status.db'}")
        self.issuer = CredentialIssuer(self.id, self.key, store, {"bri": bri})
        self.did = did_document(self.id, self.key)

    def send(self, record: CanonicalRecord, version: int | None) -> Issued:
        (draft,) = _converter().convert(Accepted(record, "test"), version=version).converted
        assert isinstance(draft, Converted) and draft.partner == "bri"
        (issued,) = self.issuer.issue([draft])
        assert isinstance(issued, Issued), issued
        for item in self.issuer.publish_lists():
            path = self.tmp / "status" / item.purpose / f"{item.number}.jwt"
            path.parent.mkdir(parents=True, exist_ok=True)
            assert item.jwt is not None
            path.write_text(item.jwt, encoding="ascii")
        return issued

    def verify(self, token: str) -> Any:
        verifier = Verifier({"bri": bri}, did_document=self.did, status_dir=self.tmp / "status")
        return verifier.verify("test", token.encode("ascii"), None)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Service:
    return Service(tmp_path_factory.mktemp("bri-version"))


def _payload(token: str, service: Service) -> dict[str, Any]:
    """The JWS verified by jwcrypto (not joserfc, which signed it), against the DID's key."""
    (method,) = service.did["verificationMethod"]
    verifier = jws.JWS()
    verifier.deserialize(token)
    verifier.verify(jwk.JWK(**method["publicKeyJwk"]), alg="ES256")
    payload: dict[str, Any] = json.loads(verifier.payload)
    return payload


@pytest.mark.parametrize("family", sorted(RECORDS))
def test_what_the_service_sends_carries_the_number_signed_valid_and_expanded(
    family: str, service: Service
) -> None:
    issued = service.send(RECORDS[family](), version=3)
    assert issued.jwt is not None
    credential = _payload(issued.jwt, service)
    assert credential == json.loads(issued.document)  # the number is under the signature
    assert credential["recordVersion"] == 3
    assert list(credential)[list(credential).index("id") + 1] == "recordVersion"
    assert credential["credentialSchema"]["id"] == f"urn:mra-exchange:bri:{family}:1.1"
    assert credential["@context"][2].endswith("/contexts/mra-dcc-ext-1.1.jsonld")

    for label, validator in (("ours 1.1", _schema(family, "1.1")), ("official 0.6.1", _official())):
        errors = [f"{e.json_path}: {e.message[:160]}" for e in validator.iter_errors(credential)]
        assert not errors, f"{label}: {errors[:5]}"
    assert not _schema(family, "1.0").is_valid(credential)  # 1.0 has no place for it

    loader = document_loader(local_contexts())
    key_paths, survived, reported = dropped_on_expansion(credential, loader)
    assert "/recordVersion" in key_paths and not key_paths - survived and not reported
    (node,) = jsonld.expand(copy.deepcopy(credential), {"documentLoader": loader})
    assert node[TERM] == [{"@type": POSITIVE_INTEGER, "@value": 3}]

    verdict = service.verify(issued.jwt)
    assert verdict.valid and verdict.status == "active", verdict.reason
    assert bri.check_bytes(issued.document).value == family
    assert bri.parse(issued.document).record_id == RECORDS[family]().record_id


def test_each_number_is_its_own_credential_version_and_the_same_number_the_same_one(service: Service) -> None:
    record = samples.certificate()
    first, again, second = (service.send(record, v) for v in (1, 1, 2))
    assert first.credential_id == again.credential_id  # a redelivered message: the same credential
    assert first.credential_id != second.credential_id
    assert json.loads(second.document)["recordVersion"] == 2


def test_the_number_cannot_be_wrong_or_altered(service: Service) -> None:
    issued = service.send(samples.glp_statement(), version=5)
    credential = json.loads(issued.document)
    for wrong in (0, -1, "5", 2.5, None, True):
        bad = {**credential, "recordVersion": wrong}
        with pytest.raises(DocumentError, match="recordVersion"):
            bri.check_bytes(json.dumps(bad).encode())
        assert not _schema("glp", "1.1").is_valid(bad), wrong
    assert issued.jwt is not None
    header, _, signature = issued.jwt.split(".")
    forged = json.dumps({**credential, "recordVersion": 6}, separators=(",", ":")).encode()
    token = f"{header}.{base64.urlsafe_b64encode(forged).rstrip(b'=').decode()}.{signature}"
    verdict = service.verify(token)
    assert not verdict.valid and "signature" in verdict.reason


def test_file_mode_and_the_pipeline_without_a_number_write_none() -> None:
    """`exchange convert` numbers versions per run only, so it writes no number (as XML)."""
    for make in RECORDS.values():
        (draft,) = _converter().convert(Accepted(make(), "test")).converted
        document = json.loads(draft.document)
        assert "recordVersion" not in document
        assert document["credentialSchema"]["id"].endswith(":1.1")
        assert bri.check_bytes(draft.document) is draft.kind


# -- profile 1.0: still read ------------------------------------------------------------


def as_1_0(credential: dict[str, Any]) -> dict[str, Any]:
    """A 1.1 credential without a number, as profile 1.0 wrote it: the 1.0 profile URI and
    extension context (1.1 added nothing else)."""
    old = {k: v for k, v in credential.items() if k != "recordVersion"}
    profile = old["credentialSchema"]["id"]
    old["credentialSchema"] = {**old["credentialSchema"], "id": profile.removesuffix("1.1") + "1.0"}
    old["@context"] = [*old["@context"][:2], old["@context"][2].replace("-1.1.jsonld", "-1.0.jsonld")]
    return old


@pytest.mark.parametrize("family", sorted(RECORDS))
def test_a_1_0_credential_is_still_read_draft_issued_and_signed(family: str, service: Service) -> None:
    record = RECORDS[family]()
    (draft,) = _converter().convert(Accepted(record, "test")).converted
    current = json.loads(draft.document)
    old_draft = as_1_0(current)
    assert bri.check_bytes(json.dumps(old_draft).encode()) is draft.kind
    assert bri.parse(json.dumps(old_draft).encode()) == bri.parse(draft.document)

    issued = json.loads(service.send(record, version=None).document)
    old = as_1_0(issued)
    errors = [e.message for e in _schema(family, "1.0").iter_errors(old)]
    assert not errors, errors[:5]
    assert _official().is_valid(old)
    data = json.dumps(old, ensure_ascii=False).encode()
    assert bri.check_bytes(data) is draft.kind
    assert bri.parse(data) == bri.parse(draft.document)
    # what verify-credential does with a 1.0 credential signed by the same issuer
    from exchange.credentials import jws as our_jws

    token = our_jws.sign(data, service.key, service.id.kid(service.key))
    verdict = service.verify(token)
    assert verdict.valid and verdict.status == "active", verdict.reason


def test_1_0_has_no_place_for_the_number_and_1_1_none_for_the_1_0_context(service: Service) -> None:
    issued = json.loads(service.send(samples.certificate(), version=4).document)
    old = as_1_0(issued)
    with pytest.raises(DocumentError, match=r"ccc-credential-1\.0\.json"):
        bri.check_bytes(json.dumps({**old, "recordVersion": 4}).encode())
    mixed = {**issued, "@context": old["@context"]}  # 1.1 profile naming the 1.0 context
    with pytest.raises(DocumentError, match=r"ccc-credential-1\.1\.json"):
        bri.check_bytes(json.dumps(mixed).encode())
    altered = copy.deepcopy(old)
    altered["credentialSubject"]["name"] += " (altered)"
    with pytest.raises(DocumentError, match="not self-consistent"):
        bri.check_bytes(json.dumps(altered).encode())
    assert bri.namespaces()["urn:mra-exchange:bri:ccc:1.0"] is Kind.CCC


# -- the manifest ------------------------------------------------------------------------


def _copy_bri(tmp: Path) -> Path:
    for name in ("format.toml", "codes.toml", "ccc.json", "glp.json", "pt.json"):
        shutil.copy(mapping_path("bri", name), tmp / name)
    return tmp / "format.toml"


def test_a_format_still_writing_1_0_gets_no_number(tmp_path: Path) -> None:
    manifest = _copy_bri(tmp_path)
    text = manifest.read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("accepted ="))
    text = text.replace("-1.1.json", "-1.0.json").replace("-1.1.jsonld", "-1.0.jsonld")
    manifest.write_text(text, "utf-8")
    for family in ("ccc", "glp", "pt"):
        template = tmp_path / f"{family}.json"
        text = template.read_text(encoding="utf-8")
        template.write_text(text.replace(f"{family}:1.1", f"{family}:1.0"), "utf-8")
    old = JsonLdPartnerFormat.from_manifest("bri", manifest)
    mapped = old.map(samples.certificate())
    assert old.stamp_version(Kind.CCC, mapped, 2) is mapped and "recordVersion" not in mapped
    assert mapped["credentialSchema"]["id"] == "urn:mra-exchange:bri:ccc:1.0"


def test_accepted_entries_are_checked(tmp_path: Path) -> None:
    manifest = _copy_bri(tmp_path)
    text = manifest.read_text(encoding="utf-8")
    pt = 'accepted = [{schema = "bri/pt-credential-1.0.json"'
    manifest.write_text(text.replace(pt, 'accepted = [{x = ""'), "utf-8")
    with pytest.raises(ConfigError, match="accepted entries"):
        JsonLdPartnerFormat.from_manifest("bri", manifest)
    manifest.write_text(text.replace("pt-credential-1.0.json", "pt-credential-1.1.json"), "utf-8")
    with pytest.raises(ConfigError, match="named twice"):
        JsonLdPartnerFormat.from_manifest("bri", manifest)
    glp = 'glp-credential-1.0.json", extension = "bri/mra-dcc-ext-1.0.jsonld"'
    manifest.write_text(text.replace(glp, 'glp-credential-1.0.json", extension = "bri/nope.jsonld"'), "utf-8")
    with pytest.raises(ConfigError, match="not a file under schemas"):
        JsonLdPartnerFormat.from_manifest("bri", manifest)
