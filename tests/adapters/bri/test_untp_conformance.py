"""bri credentials against implementations we did not write: the official UNTP DCC 0.6.1
JSON Schema (jsonschema, Draft 2020-12, formats asserted) and JSON-LD expansion (pyld)
through the VC 2.0, UNTP 0.6.1 and our extension context, all served from local files.

The corpus: every credential `exchange convert` writes for the shipped samples, and a
generated one covering every family, scheme and certificate status, every GLP status and
every ISO 13528 signal; hypothesis adds random records on top. Every one of them ISSUED
(per-version id, issuer did:web with a port, validFrom, credentialStatus entries), as
verifiers receive them; the drafts a mapping makes are checked on their own.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from pyld import jsonld

from adapters.bri import format as bri
from exchange.credentials.issuer import CredentialIssuer, Issued
from exchange.credentials.standing import standing_of
from exchange.credentials.status_store import StatusStore
from exchange.errors import DocumentError
from exchange.intake import CanonicalRecord
from exchange.model import CertStatus
from exchange.pipeline import Converted
from exchange.resources import schema_path
from tests import canonical_samples as samples
from tests.adapters.bri.strategies import certificates, glp_statements, pt_rounds
from tests.adapters.bri.untp_reference import (
    REPO,
    UNTP_CONTEXT_URL,
    VC_CONTEXT_URL,
    document_loader,
    local_contexts,
    official_schema,
    require_reference,
)
from tests.credentials.helpers import ISSUER, make_key

SCHEMAS = {f: schema_path("bri", f"{f}-credential-1.1.json") for f in ("ccc", "glp", "pt")}
PROFILE = re.compile(r"^urn:mra-exchange:bri:(ccc|glp|pt):1\.1$")
EXTENSION = "mra-dcc-ext-1.1.jsonld"
GENERATED = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the corpus ------------------------------------------------------------------------


def _certificates() -> Iterator[tuple[str, CanonicalRecord]]:
    supplier = {"name": "Kiwi Imports Ltd", "country": "NZ", "supplierNumber": "E512", "taxId": "123 456 789"}
    schemes: dict[str, dict[str, Any]] = {
        "CCC": {},
        "KC": {"scheme": "KC", "certNo": "SU071356-12001", "manufacturer": None, "factories": []},
        "EESS": {"scheme": "EESS", "certNo": "NZ/2019/0042", "manufacturer": None, "factories": [],
                 "responsibleSupplier": supplier},
    }  # fmt: skip
    history = [{"date": "2020-01-02", "status": s.value, "reason": f"became {s.value}"} for s in CertStatus]
    for scheme, fields in schemes.items():
        for status in CertStatus:
            record = samples.certificate(status=status.value, history=history, **fields)
            yield f"ccc {scheme} {status.value}", record


def _glp() -> Iterator[tuple[str, CanonicalRecord]]:
    for status in ("IC", "NIC", "PEN", "RFP"):
        yield f"glp {status}", samples.glp_statement(status=status)


def _pt() -> Iterator[tuple[str, CanonicalRecord]]:
    yield "pt reference", samples.scored_pt_round()
    yield "pt consensus", samples.scored_pt_round(
        assigned={"method": "consensus"}, sigmaPt={"method": "robust"},
        provider={"name": "示例能力验证提供者"},
        results=[{"lab": f"L{i:02}", "value": v, "u": 0.002}
                 for i, v in enumerate([0.041, 0.044, 0.046, 0.043, 0.052, 0.039, 0.045])],
    )  # fmt: skip
    # |z| = 0.5, 2.5, 4: one acceptable, one warning and one action signal
    yield "pt signals", samples.scored_pt_round(
        assigned={"method": "reference", "value": 10.0, "U": 0.2, "k": 2},
        sigmaPt={"method": "fixed", "value": 1.0},
        results=[{"lab": "A", "value": 10.5, "u": 0.3}, {"lab": "B", "value": 12.5, "u": 0.3},
                 {"lab": "C", "value": 14.0, "u": 0.3},
                 {"lab": "D", "value": None, "remark": "not received"}],
    )  # fmt: skip


def _records() -> dict[str, CanonicalRecord]:
    return {name: record for gen in (_certificates, _glp, _pt) for name, record in gen()}


@cache
def _issuer() -> CredentialIssuer:
    """The issuing step as `convert` runs it, signing with a development key, its status
    lists in a temporary SQLite database (did:web:localhost%3A8080: a DID with a port)."""
    tmp = Path(tempfile.mkdtemp(prefix="bri-issuer-"))
    store = StatusStore(f"sqlite:///{tmp / 'status.db'}")
    return CredentialIssuer(ISSUER, make_key(tmp), store, {"bri": bri})


def issue(record: CanonicalRecord, version: int | None = None) -> dict[str, Any]:
    """A record's credential as issued (what the .jsonld holds and the .jwt signs); with
    `version`, numbered as the service numbers it (recordVersion, profile 1.1)."""
    if version is None:
        draft = bri.convert(record)
    else:
        stamped = bri.stamp_version(record.kind, bri.map(record), version)
        bri.validate(record.kind, stamped)
        draft = bri.render(stamped)
    converted = Converted(
        "bri", record.kind, record.record_id, draft, ".jsonld", "application/ld+json",
        hashlib.sha256(draft).hexdigest(), standing_of(record).value,
    )  # fmt: skip
    (outcome,) = _issuer().issue([converted])
    assert isinstance(outcome, Issued), outcome
    return dict(json.loads(outcome.document))


def _generated() -> dict[str, dict[str, Any]]:
    """Numbered as the service sends them (the samples, from `convert`, carry no number)."""
    return {name: issue(record, i + 1) for i, (name, record) in enumerate(_records().items())}


@pytest.fixture(scope="module")
def sample_credentials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """What `exchange convert` writes for every shipped sample (the README's first command)."""
    out = tmp_path_factory.mktemp("convert")
    inputs = sorted(str(p) for p in (REPO / "samples").iterdir() if p.is_file())
    run = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "convert", *inputs, "--partner", "bri", "--out", str(out),
         "--audit", f"sqlite:///{out / 'audit.db'}"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr  # 1: the sample CSV's 15-digit number is rejected
    files = sorted((out / "bri").glob("*.jsonld"))
    assert len(files) >= 5, f"{len(files)} credentials written for {len(inputs)} sample files: {run.stdout}"
    return {f"sample {p.name}": json.loads(p.read_text(encoding="utf-8")) for p in files}


@pytest.fixture(scope="module")
def corpus(sample_credentials: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    docs = {**sample_credentials, **_generated()}
    text = json.dumps(docs)
    for status in ("active", "suspended", "withdrawn", "cancelled", "expired"):
        assert f'"certificationStatus": "{status}"' in text, f"no {status} certificate in the corpus"
    for signal in ("acceptable", "warning", "action"):
        assert f'"score": "{signal}"' in text, f"no {signal} signal in the corpus"
    families = {PROFILE.match(d["credentialSchema"]["id"]).group(1) for d in docs.values()}  # type: ignore[union-attr]
    assert families == {"ccc", "glp", "pt"}
    numbered = {name for name, doc in docs.items() if "recordVersion" in doc}
    assert numbered and numbered != docs.keys(), "the corpus needs credentials with and without a number"
    for name, doc in docs.items():  # issued, not drafts: what a verifier receives
        assert {"credentialStatus", "validFrom"} <= doc.keys(), name
        assert doc["issuer"]["id"].startswith("did:web:"), name
    return docs


def _family(doc: dict[str, Any]) -> str:
    match = PROFILE.match(doc["credentialSchema"]["id"])
    assert match, doc["credentialSchema"]
    return match.group(1)


def _ours() -> dict[str, Draft202012Validator]:
    return {f: Draft202012Validator(json.loads(p.read_text(encoding="utf-8"))) for f, p in SCHEMAS.items()}


def _official() -> Draft202012Validator:
    return Draft202012Validator(official_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


# -- JSON Schemas: ours and the official one --------------------------------------------


def test_every_credential_is_valid_for_our_schemas_and_the_official_one(corpus: dict[str, Any]) -> None:
    official, ours = _official(), _ours()
    failures = []
    for name, doc in corpus.items():
        for label, validator in (("official 0.6.1", official), ("ours", ours[_family(doc)])):
            errors = validator.iter_errors(doc)
            failures += [f"{name} ({label}): {e.json_path}: {e.message[:160]}" for e in errors]
    listed = "\n".join(failures[:30])
    assert not failures, f"{len(failures)} errors over {len(corpus)} credentials:\n{listed}"
    assert len(corpus) >= 25, f"only {len(corpus)} credentials in the corpus"


def test_drafts_pass_the_official_schema_and_our_draft_check_but_not_the_issued_one() -> None:
    """A mapped credential before the issuing step: official, checked by the format as a
    draft (no status entries, no issue time yet), refused by our schema for issued ones."""
    official, ours = _official(), _ours()
    for name, record in _records().items():
        draft = json.loads(bri.convert(record))
        assert "credentialStatus" not in draft and "validFrom" not in draft, name
        assert official.is_valid(draft), (name, [e.message for e in official.iter_errors(draft)][:3])
        bri.validate(record.kind, draft)  # the draft check: no DocumentError
        missing = {e.message for e in ours[_family(draft)].iter_errors(draft)}
        assert missing == {"'validFrom' is a required property", "'credentialStatus' is a required property"}
        with pytest.raises(DocumentError):
            bri.validate_issued(record.kind, draft)


def test_validfrom_is_the_versions_issue_time_and_the_certificates_dates_stay(corpus: dict[str, Any]) -> None:
    """validFrom is when that version was first issued (UTC); the certificate's issue date
    and the GLP statement's date are extension terms of the subject."""
    issue_time = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
    for name, doc in corpus.items():
        assert issue_time.match(doc["validFrom"]), (name, doc["validFrom"])
        subject = doc["credentialSubject"]
        family = _family(doc)
        if family == "ccc":
            assert re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", subject["certificateIssueDate"]), name
        if family == "glp":
            assert re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", subject["statementDate"]), name


def test_the_context_is_vc_untp_and_our_one_extension_without_vocab(corpus: dict[str, Any]) -> None:
    for name, doc in corpus.items():
        context = doc["@context"]
        assert context[:2] == [VC_CONTEXT_URL, UNTP_CONTEXT_URL], name
        assert len(context) == 3 and context[2].endswith(f"/contexts/{EXTENSION}"), (name, context)
        assert "@vocab" not in json.dumps(doc), name
    ours = schema_path("bri", EXTENSION).read_text(encoding="utf-8")
    assert "@vocab" not in ours


def test_the_extension_defines_only_terms_vc_and_untp_lack() -> None:
    ref = require_reference()

    def terms(path: Path) -> set[str]:
        return {k for k in json.loads(path.read_text(encoding="utf-8"))["@context"] if not k.startswith("@")}

    ours = terms(schema_path("bri", EXTENSION)) - {"mra", "xsd"}
    taken = (terms(ref / "credentials-v2.jsonld") | terms(ref / "context.jsonld")) & ours
    assert not taken, f"{len(taken)} of our {len(ours)} terms redefine VC 2.0 / UNTP terms: {sorted(taken)}"


# -- JSON-LD: nothing is dropped on expansion -------------------------------------------

_LEAF = "urn:x-leaf:"


def _mark(doc: Any, path: str, paths: dict[str, str]) -> Any:
    """A copy with every scalar value replaced by a unique IRI remembering its key path
    (`type` values are kept: they select UNTP's type-scoped contexts)."""
    if isinstance(doc, dict):
        return {k: v if k in ("@context", "type") else _mark(v, f"{path}/{k}", paths) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_mark(v, f"{path}[]", paths) for v in doc]
    marker = f"{_LEAF}{len(paths)}"
    paths[marker] = path
    return marker


def _key_paths(leaves: Iterable[str]) -> set[str]:
    """Every key path above the given leaves (list steps left out): /a, /a/b, /a/b/c ..."""
    out = set()
    for leaf in leaves:
        parts = leaf.replace("[]", "").split("/")[1:]
        for i in range(1, len(parts) + 1):
            out.add("/" + "/".join(parts[:i]))
    return out


Loader = Callable[..., Any]


def dropped_on_expansion(doc: dict[str, Any], loader: Loader) -> tuple[set[str], set[str], list[Any]]:
    """(key paths in the compacted credential, key paths that survived expansion, terms
    pyld reported dropped on the credential itself)."""
    leaves: dict[str, str] = {}
    marked = _mark(doc, "", leaves)
    expanded = json.dumps(jsonld.expand(marked, {"documentLoader": loader}))
    kept = [leaves[m] for m in re.findall(rf"{re.escape(_LEAF)}\d+", expanded)]
    reported: list[Any] = []
    jsonld.expand(copy.deepcopy(doc), {"documentLoader": loader}, on_property_dropped=reported.append)
    return _key_paths(leaves.values()), _key_paths(kept), reported


def _assert_nothing_dropped(name: str, doc: dict[str, Any], loader: Loader) -> int:
    key_paths, survived, reported = dropped_on_expansion(doc, loader)
    lost = sorted(key_paths - survived)
    assert not lost and not reported, (
        f"{name}: {len(key_paths)} key paths in the compacted credential, {len(survived)} survive "
        f"expansion; dropped: {lost[:20]}; pyld reports {reported[:10]}"
    )
    return len(key_paths)


def test_no_key_is_dropped_on_expansion(corpus: dict[str, Any]) -> None:
    loader = document_loader(local_contexts())
    checked = sum(_assert_nothing_dropped(name, doc, loader) for name, doc in corpus.items())
    assert checked > 50 * len(corpus), f"{checked} key paths over {len(corpus)} credentials"


def test_the_drop_check_does_catch_a_term_no_context_defines() -> None:
    loader = document_loader(local_contexts())
    doc = bri.map(samples.certificate())
    doc["credentialSubject"]["assessment"][0]["assessedProduct"][0]["product"]["colour"] = "red"
    key_paths, survived, reported = dropped_on_expansion(doc, loader)
    assert key_paths - survived == {"/credentialSubject/assessment/assessedProduct/product/colour"}
    assert reported == ["colour"]


@GENERATED
@given(certificates() | glp_statements() | pt_rounds())
def test_generated_records_are_official_and_lose_nothing_on_expansion(record: CanonicalRecord) -> None:
    doc = issue(record)
    errors = [f"{e.json_path}: {e.message[:160]}" for e in _official().iter_errors(doc)]
    assert not errors, f"{len(errors)} official 0.6.1 errors: {errors[:10]}"
    _assert_nothing_dropped(record.record_id, doc, document_loader(local_contexts()))


# -- our schemas are at least as strict as the official one -----------------------------

WRONG: list[Any] = [12345, -1.5, "", "not a uri: or a date", [], {}, True, None]


def _variants(doc: Any, path: str = "$") -> Iterator[tuple[str, Callable[[Any], None]]]:
    """(description, mutation) for every key and list item: removed, or given a wrong value."""
    items: list[tuple[Any, Any]] = []
    if isinstance(doc, dict):
        items = list(doc.items())
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    for key, value in items:
        where = f"{path}[{key}]" if isinstance(doc, list) else f"{path}.{key}"
        yield f"without {where}", _at(path, lambda parent, k=key: parent.pop(k))
        for wrong in WRONG:
            yield f"{where} = {wrong!r}", _at(path, lambda parent, k=key, w=wrong: parent.__setitem__(k, w))
        yield from _variants(value, where)


def _shortened(doc: Any) -> Any:
    """Lists cut to two entries (a PT round's hundred participants all have one shape)."""
    if isinstance(doc, dict):
        return {k: v if k == "@context" else _shortened(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_shortened(v) for v in doc[:2]]
    return doc


def _at(path: str, change: Callable[[Any], Any]) -> Callable[[Any], None]:
    steps = re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:])

    def mutate(doc: Any) -> None:
        node = doc
        for key, index in steps:
            node = node[int(index)] if index else node[key]
        change(node)

    return mutate


@pytest.mark.parametrize("family", ["ccc", "glp", "pt"])
def test_our_schema_rejects_every_variant_the_official_schema_rejects(
    family: str, sample_credentials: dict[str, Any]
) -> None:
    official, ours = _official(), _ours()[family]
    base = _shortened(next(d for n, d in sorted(sample_credentials.items()) if _family(d) == family))
    assert official.is_valid(base) and ours.is_valid(base)
    total = rejected = 0
    loose = []
    for description, mutate in _variants(base):
        doc = copy.deepcopy(base)
        mutate(doc)
        total += 1
        if not official.is_valid(doc):
            rejected += 1
            if ours.is_valid(doc):
                loose.append(description)
    assert rejected > 100, f"{family}: the official schema rejects only {rejected} of {total} variants"
    assert not loose, (
        f"{family}: of {total} variants the official schema rejects {rejected}; ours accepts "
        f"{len(loose)} of those: {loose[:20]}"
    )


# -- credentialStatus: optional here, strictly shaped ------------------------------------


def _entry(purpose: str, index: str = "7") -> dict[str, Any]:
    return {
        "id": f"https://cnca.gov.cn/status/{purpose}/1#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": index,
        "statusListCredential": f"https://cnca.gov.cn/status/{purpose}/1",
    }


def test_credential_status_is_required_and_strictly_shaped() -> None:
    ours = _ours()
    official = _official()
    loader = document_loader(local_contexts())
    for family, record in (("ccc", samples.certificate()), ("glp", samples.glp_statement()),
                           ("pt", samples.scored_pt_round())):  # fmt: skip
        doc = issue(record)
        del doc["credentialStatus"]
        assert not ours[family].is_valid(doc)  # an issued credential without status entries
        doc["credentialStatus"] = [_entry("revocation"), _entry("suspension")]
        assert ours[family].is_valid(doc), list(ours[family].iter_errors(doc))[:3]
        assert official.is_valid(doc)
        _assert_nothing_dropped(f"{family} with status", doc, loader)
        bad: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
            "one entry": lambda s: s.pop(),
            "twice revocation": lambda s: s[1].__setitem__("statusPurpose", "revocation"),
            "purpose refresh": lambda s: s[0].__setitem__("statusPurpose", "refresh"),
            "index as a number": lambda s: s[0].__setitem__("statusListIndex", 7),
            "index with a sign": lambda s: s[0].__setitem__("statusListIndex", "-7"),
            "no list credential": lambda s: s[1].pop("statusListCredential"),
            "list credential not a URL": lambda s: s[1].__setitem__("statusListCredential", "status list 1"),
            "another type": lambda s: s[0].__setitem__("type", "StatusList2021Entry"),
            "an extra key": lambda s: s[0].__setitem__("statusSize", 1),
            "no id": lambda s: s[0].pop("id"),
        }
        accepted = []
        for what, change in bad.items():
            variant = copy.deepcopy(doc)
            change(variant["credentialStatus"])
            if ours[family].is_valid(variant):
                accepted.append(what)
        assert not accepted, f"{family}: {len(accepted)} of {len(bad)} bad status shapes accepted: {accepted}"
