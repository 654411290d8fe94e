"""The bri format: UNTP-aligned JSON-LD credentials, public fields only.

Every family renders and validates; what the feed carries survives the round trip
(hypothesis); what it must not carry never reaches the bytes; hostile input and
tampered credentials are refused with readable messages.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from adapters.bri import format as bri
from exchange.checks import mapping_problems
from exchange.config import load_config
from exchange.errors import ConfigError, DocumentError, MappingError, RecordError
from exchange.formats.jsonld import JsonLdPartnerFormat
from exchange.intake import CanonicalRecord
from exchange.model import GlpStatement, Kind
from exchange.resources import mapping_path
from exchange.scope import out_of_scope
from tests import canonical_samples as samples
from tests.adapters.bri.strategies import certificates, glp_statements, pt_rounds, public_view

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILES = {  # written: 1.1; still read: 1.0 (docs/versions.md)
    f"urn:mra-exchange:bri:{k.value}:{v}": k for k in (Kind.CCC, Kind.GLP, Kind.PT) for v in ("1.1", "1.0")
}


def _scored(**overrides: Any) -> CanonicalRecord:
    return samples.scored_pt_round(**overrides)


SAMPLES: dict[str, Any] = {
    "ccc": samples.certificate,
    "ccc-minimal": lambda: samples.certificate(
        expiryDate=None, history=[], testReports=[], product={
            "name": "电源适配器", "category": "0907", "models": ["PA-1"]},
        certBody={"name": "中国质量认证中心"},
    ),
    "ccc-toy": lambda: samples.certificate(category="2203", status="WITHDRAWN"),
    "kc": lambda: samples.certificate(
        scheme="KC", certNo="SU071356-12001", manufacturer=None, factories=[]
    ),
    "eess": lambda: samples.certificate(
        scheme="EESS", certNo="NZ/2019/0042", manufacturer=None, factories=[],
        responsibleSupplier={"name": "Kiwi Imports Ltd", "country": "NZ",
                             "supplierNumber": "E512", "taxId": "123 456 789"},
    ),
    "glp": samples.glp_statement,
    "glp-plain": lambda: samples.glp_statement(
        areas=[2], otherArea=None, status="PEN", studyAudits=[],
        inspections=[{"date": "2019-05-20", "type": "FAC"}, {"date": "2020-01-02", "type": "RE-I"}],
    ),
    "pt": _scored,
    "pt-consensus": lambda: _scored(
        assigned={"method": "consensus"}, sigmaPt={"method": "robust"},
        provider={"name": "示例能力验证提供者"},
        results=[{"lab": f"L{i:02}", "value": v, "u": 0.002}
                 for i, v in enumerate([0.041, 0.044, 0.046, 0.043, 0.052, 0.039, 0.045])],
    ),
}  # fmt: skip


def _doc(data: bytes) -> Any:
    return json.loads(data)


# -- every family renders and validates ------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_renders_validates_and_round_trips(name: str) -> None:
    record = SAMPLES[name]()
    data = bri.convert(record)
    assert bri.check_bytes(data) == record.kind
    assert bri.parse(data) == public_view(record)
    assert bri.convert(bri.parse(data)) == data


def test_the_credential_is_a_untp_conformity_credential() -> None:
    doc = _doc(bri.convert(samples.certificate()))
    assert doc["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://test.uncefact.org/vocabulary/untp/dcc/0.6.1/",
        "https://cnca.gov.cn/contexts/mra-dcc-ext-1.1.jsonld",  # EXCHANGE_PUBLIC_URL unset
    ]
    assert doc["type"] == ["DigitalConformityCredential", "VerifiableCredential"]
    assert doc["issuer"]["id"] == "did:web:cnca.gov.cn"  # placeholder until a DID is agreed
    assert "proof" not in doc  # signing is a later pipeline step
    subject = doc["credentialSubject"]
    assert subject["type"][0] == "ConformityAttestation"
    assert (subject["assessorLevel"], subject["assessmentLevel"], subject["attestationType"]) == (
        "3rdParty", "GovtApproval", "certification")  # fmt: skip
    assert subject["scope"]["owner"]["name"].endswith("(CNCA)")
    assert subject["issuedToParty"]["id"].startswith("urn:uuid:")
    # one assessment per standard: UNTP's referenceStandard is a single Standard
    assessments = subject["assessment"]
    assert [a["referenceStandard"]["name"] for a in assessments] == ["GB 4943.1-2022", "GB/T 9254.1-2021"]
    assert len({a["id"] for a in assessments}) == 2
    assessment = assessments[0]
    assert assessment["conformance"] is True
    assert (
        assessment["referenceStandard"]["issuingParty"]["name"]
        == "Standardization Administration of China (SAC)"
    )
    product = assessment["assessedProduct"][0]["product"]
    assert product["productCategory"][0]["code"] == "0907"
    assert product["productCategory"][0]["name"] == "Power supplies, adapters, chargers"
    assert product["modelNumber"] == ["PA-12V-1A", "PA-12V-2A"]
    assert assessment["assessedFacility"][0]["facility"]["address"]["addressCountry"] == "VN"
    assert assessments[1]["assessedProduct"] == assessment["assessedProduct"]


def test_the_extension_context_follows_the_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_PUBLIC_URL", "https://feed.example.org/mra/")
    fmt = JsonLdPartnerFormat.from_manifest("bri")
    doc = _doc(fmt.convert(samples.certificate()))
    assert doc["@context"][2] == "https://feed.example.org/mra/contexts/mra-dcc-ext-1.1.jsonld"
    assert fmt.check_bytes(json.dumps(doc).encode()) is Kind.CCC
    with pytest.raises(DocumentError, match="another EXCHANGE_PUBLIC_URL"):
        fmt.check_bytes(bri.convert(samples.certificate()))  # named under the default URL
    monkeypatch.setenv("EXCHANGE_PUBLIC_URL", "ftp://feed.example.org")
    with pytest.raises(ConfigError, match="EXCHANGE_PUBLIC_URL"):
        JsonLdPartnerFormat.from_manifest("bri")


def test_an_issued_credential_is_read_under_its_issuers_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issued, the contexts are expected under the base its status lists are under (the
    issuer's public URL), whatever this service's own: a verifier elsewhere reads it."""
    from exchange.credentials import bitstring

    base = "https://feed.example.org/mra"
    monkeypatch.setenv("EXCHANGE_PUBLIC_URL", base + "/")
    doc = _doc(JsonLdPartnerFormat.from_manifest("bri").convert(samples.certificate()))
    doc["validFrom"] = "2026-01-01T00:00:00Z"
    doc["credentialStatus"] = bitstring.entries(lambda p, n: f"{base}/status/{p}/{n}", 1, 7)
    monkeypatch.delenv("EXCHANGE_PUBLIC_URL")
    here = JsonLdPartnerFormat.from_manifest("bri")  # the default public URL
    assert here.check_bytes(json.dumps(doc).encode()) is Kind.CCC
    other = "https://elsewhere.example.org"
    doc["credentialStatus"] = bitstring.entries(lambda p, n: f"{other}/status/{p}/{n}", 1, 7)
    with pytest.raises(DocumentError, match="another EXCHANGE_PUBLIC_URL"):
        here.check_bytes(json.dumps(doc).encode())  # contexts and lists of two different bases


def test_a_suspended_certificate_states_no_conformance() -> None:
    subject = _doc(bri.convert(samples.certificate(status="SUSPENDED")))["credentialSubject"]
    assert subject["certificationStatus"] == "suspended"
    assert [a["conformance"] for a in subject["assessment"]] == [False, False]


def test_pt_assessments_carry_scores_and_signals_per_lab_code() -> None:
    subject = _doc(bri.convert(samples.scored_pt_round()))["credentialSubject"]
    by_lab = {a["assessedOrganisation"]["registeredId"]: a for a in subject["assessment"]}
    metrics = {m["metricName"]: m for m in by_lab["L04"]["declaredValue"]}
    assert metrics["z"]["score"] == "action" and metrics["z"]["metricValue"]["unit"] == "C62"
    assert metrics["result"]["metricValue"] == {"value": 0.013, "unit": "mg/kg"}
    assert "declaredValue" not in by_lab["L05"]  # censored: nothing scored
    assert by_lab["L04"]["conformance"] is False and by_lab["L05"]["conformance"] is False
    judged = {lab: a["conformance"] for lab, a in by_lab.items()}
    assert any(judged.values()), judged
    assert subject["assessmentLevel"] == "Accredited"
    assert subject["issuedToParty"]["accreditation"] == "CNAS PT0001"
    assert "authorisation" not in subject  # the accrediting body is not known to us


def test_the_same_record_always_yields_the_same_credential() -> None:
    record = samples.certificate()
    first, second = bri.convert(record), bri.convert(samples.certificate())
    assert first == second
    expected = uuid.uuid5(uuid.UUID("1ce50179-edce-5a42-bb99-e5681e1d981f"), f"ccc:{record.record_id}")
    assert _doc(first)["id"] == f"urn:uuid:{expected}"
    other = _doc(bri.convert(samples.certificate(certNo="2019010907123457")))["id"]
    assert other != _doc(first)["id"]
    ids = {_doc(bri.convert(SAMPLES[n]()))["id"] for n in ("ccc", "glp", "pt")}
    assert len(ids) == 3


def test_output_is_compact_utf8_json_in_template_order() -> None:
    data = bri.convert(samples.certificate())
    assert b"\n" not in data and "深圳市示例电子有限公司".encode() in data
    assert list(_doc(data))[:4] == ["@context", "type", "id", "credentialSchema"]


def test_documents_do_not_share_constants() -> None:
    doc = bri.map(samples.certificate())
    doc["issuer"]["id"] = "did:web:tampered.example"
    doc["@context"].append("x")
    doc["credentialSubject"]["assessment"][0]["type"].append("X")
    again = bri.map(samples.certificate())
    assert again["issuer"]["id"] == "did:web:cnca.gov.cn"
    assert len(again["@context"]) == 3
    assert again["credentialSubject"]["assessment"][0]["type"] == [
        "ConformityAssessment",
        "Declaration",
    ]


# -- round trip of the carried fields (hypothesis) -------------------------------------


@FAST
@given(certificates())
def test_certificates_round_trip(record: CanonicalRecord) -> None:
    data = bri.convert(record)
    assert bri.parse(data) == public_view(record)


@FAST
@given(glp_statements())
def test_glp_statements_round_trip_and_never_carry_study_audits(record: Any) -> None:
    data = bri.convert(record)
    assert bri.parse(data) == public_view(record)
    assert b"SECRET" not in data
    for audit in record.study_audits:
        assert audit.study_id.encode() not in data
        assert audit.requested_by.encode() not in data


@FAST
@given(pt_rounds())
def test_pt_rounds_round_trip(record: CanonicalRecord) -> None:
    data = bri.convert(record)
    assert bri.parse(data) == public_view(record)


# -- public fields only ----------------------------------------------------------------


def test_glp_study_audits_never_appear_in_the_bytes() -> None:
    record = samples.glp_statement(
        studyAudits=[
            {"studyId": "S-2019-017", "requestedBy": "EU"},
            {"studyId": "CONFIDENTIAL-STUDY-4711", "requestedBy": "Ministry-X-requester"},
        ]
    )
    data = bri.convert(record)
    for needle in (b"S-2019-017", b"CONFIDENTIAL-STUDY-4711", b"Ministry-X-requester"):
        assert needle not in data
    lowered = data.lower()
    for word in (b"studyaudit", b"studyid", b"requestedby", b"study_audit"):
        assert word not in lowered
    parsed = bri.parse(data)
    assert isinstance(parsed, GlpStatement) and parsed.study_audits == []


def test_test_reports_and_tax_ids_never_appear() -> None:
    data = bri.convert(SAMPLES["eess"]())
    assert b"123 456 789" not in data and b"taxId" not in data
    data = bri.convert(samples.certificate())
    for needle in ("A2019-0301-01", "示例实验室", "CNAS L0001", "testReport"):
        assert needle.encode() not in data


def test_pt_participants_uncertainties_are_not_published() -> None:
    doc = _doc(bri.convert(samples.scored_pt_round()))
    for entry in doc["credentialSubject"]["participantResults"]:
        assert set(entry) <= {"participant", "result", "remark"}
    assert b"0.007" not in json.dumps(doc["credentialSubject"]["participantResults"]).encode()


# -- what cannot be mapped -------------------------------------------------------------


def test_an_unmapped_category_names_field_and_partner() -> None:
    with pytest.raises(MappingError) as caught:
        bri.map(samples.certificate(category="0999"))
    assert caught.value.field == "product.category"
    assert "bri" in str(caught.value) and "'0999'" in str(caught.value)


def test_an_unscored_round_is_refused_naming_the_field() -> None:
    with pytest.raises(MappingError) as caught:
        bri.map(samples.pt_round())
    assert caught.value.field == "scoring"


def test_code_lists_cover_every_canonical_code() -> None:
    assert mapping_problems(load_config(), ["bri"]) == []
    domains = {k: {c.domain for c in bri.code_lists(k).values()} for k in Kind}
    assert {"cert-status", "category"} <= domains[Kind.CCC]
    assert {"glp-status", "glp-area", "inspection-type"} <= domains[Kind.GLP]


def test_namespaces_are_the_family_profiles() -> None:
    assert dict(bri.namespaces()) == PROFILES
    assert (bri.suffix, bri.media_type) == (".jsonld", "application/ld+json")
    assert bri.families == frozenset(Kind)


# -- out-of-scope kinds ----------------------------------------------------------------


def _ccc_only(tmp_path: Path) -> JsonLdPartnerFormat:
    manifest = mapping_path("bri", "format.toml").read_text(encoding="utf-8")
    head, _, _ = manifest.partition("[families.glp]")
    for name in ("codes.toml", "ccc.json"):
        (tmp_path / name).write_bytes(mapping_path("bri", name).read_bytes())
    (tmp_path / "format.toml").write_text(head, encoding="utf-8")
    return JsonLdPartnerFormat.from_manifest("bri", tmp_path / "format.toml")


def test_a_family_outside_the_format_is_refused(tmp_path: Path) -> None:
    fmt = _ccc_only(tmp_path)
    assert fmt.families == frozenset({Kind.CCC})
    with pytest.raises(RecordError, match="no glp documents"):
        fmt.map(samples.glp_statement())
    with pytest.raises(RecordError):
        fmt.code_lists(Kind.PT)
    with pytest.raises(DocumentError, match="not a bri profile"):
        fmt.parse(bri.convert(samples.glp_statement()))


def test_a_family_outside_the_agreement_is_out_of_scope() -> None:
    agreement = load_config().partners["bri"]
    assert out_of_scope(agreement, samples.glp_statement()) is None
    narrowed = agreement.model_copy(update={"families": frozenset({Kind.CCC})})
    reason = out_of_scope(narrowed, samples.glp_statement())
    assert reason is not None and "bri" in reason


# -- schema violations, with readable paths --------------------------------------------


def _check_fails(kind: Kind, doc: Any) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        bri.validate(kind, doc)
    return caught.value


def test_a_wrong_code_is_reported_with_its_path() -> None:
    doc = bri.map(samples.certificate())
    doc["credentialSubject"]["certificationStatus"] = "valid"
    error = _check_fails(Kind.CCC, doc)
    assert any(m.startswith("$.credentialSubject.certificationStatus: 'valid' is not one of")
               for m in error.messages), error.messages  # fmt: skip
    assert "ccc-credential-1.1.json" in str(error)


def test_a_missing_required_part_is_reported_with_its_path() -> None:
    doc = bri.map(samples.glp_statement())
    del doc["credentialSubject"]["assessment"][0]["inspections"]
    error = _check_fails(Kind.GLP, doc)
    assert error.messages == ["$.credentialSubject.assessment[0]: 'inspections' is a required property"]


def test_extra_properties_wrong_types_and_patterns_are_refused() -> None:
    base = bri.map(samples.scored_pt_round())
    cases: list[tuple[str, Callable[[Any], Any]]] = [
        (": Additional properties are not allowed ('studyAudits'",
         lambda s: s.__setitem__("studyAudits", [])),
        (".ptRound.sigmaPt.value: -1 is less than or equal to the minimum of 0",
         lambda s: s["ptRound"]["sigmaPt"].__setitem__("value", -1)),
        (".participantResults[0]: ", lambda s: s["participantResults"][0].pop("result")),
        (".assessment[0].declaredValue[1]: ",
         lambda s: s["assessment"][0]["declaredValue"][1].__setitem__("score", "fine")),
        (".ptRound.scheme: 'TOY PB' does not match",
         lambda s: s["ptRound"].__setitem__("scheme", "TOY PB")),
        (".scope: ", lambda s: s["scope"].__setitem__("version", "ISO/IEC 17043:2010")),
        (".assessment[1].assessedOrganisation: 'registeredId' is a required property",
         lambda s: s["assessment"][1]["assessedOrganisation"].pop("registeredId")),
    ]  # fmt: skip
    for where, change in cases:
        doc = copy.deepcopy(base)
        change(doc["credentialSubject"])
        error = _check_fails(Kind.PT, doc)
        assert any(m.startswith(f"$.credentialSubject{where}") for m in error.messages), (
            where, error.messages)  # fmt: skip


def test_a_glp_credential_naming_area_9_must_name_it() -> None:
    doc = bri.map(samples.glp_statement())
    del doc["credentialSubject"]["assessment"][0]["otherArea"]
    _check_fails(Kind.GLP, doc)


def test_tampered_bytes_are_refused_by_check_bytes() -> None:
    data = bri.convert(samples.certificate())
    with pytest.raises(DocumentError) as caught:
        bri.check_bytes(data.replace(b'"active"', b'"valid"'))
    assert "$.credentialSubject.certificationStatus" in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "old", "new"),
    [
        (Kind.CCC, b'"conformance":true', b'"conformance":false'),
        (Kind.CCC, b"(CCC) certificate 2019", b"(CCC) certificate 2020"),
        (Kind.GLP, b'"name":"Toxicity studies"', b'"name":"Residue studies"'),
        (Kind.PT, b'"2019-02"', b'"2019-03"'),
        (Kind.PT, b'"id":"urn:uuid:', b'"id":"urn:uuid:'),
    ],
)
def test_a_credential_whose_derived_values_disagree_is_refused(kind: Kind, old: bytes, new: bytes) -> None:
    makers: dict[Kind, Callable[[], CanonicalRecord]] = {
        Kind.CCC: samples.certificate,
        Kind.GLP: samples.glp_statement,
        Kind.PT: _scored,
    }
    record = makers[kind]()
    data = bri.convert(record)
    assert old in data
    if old == new:  # the credential id: replace it by another valid UUID 5
        doc = _doc(data)
        doc["id"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'elsewhere')}"
        tampered = bri.render(doc)
    else:
        tampered = data.replace(old, new, 1)
    bri.validate(kind, _doc(tampered))  # still schema-valid ...
    with pytest.raises(DocumentError, match="not self-consistent"):  # ... but not ours as written
        bri.parse(tampered)


def test_schema_valid_content_the_model_refuses() -> None:
    data = bri.convert(samples.certificate())
    backwards = data.replace(b'"validUntil":"2024-03-01', b'"validUntil":"2018-03-01')
    with pytest.raises(RecordError, match="before issueDate"):
        bri.parse(backwards)
    with pytest.raises(DocumentError, match="does not hold a valid record"):
        bri.check_bytes(backwards)
    unknown = data.replace(b'"code":"0907"', b'"code":"0999"')
    with pytest.raises(DocumentError, match=r"cannot be written back.*'0999'"):
        bri.parse(unknown)


# -- hostile input ---------------------------------------------------------------------


HOSTILE = {
    "too large": b'{"a":"' + b"x" * (8 * 1024 * 1024) + b'"}',
    "100 deep": b"[" * 100 + b"]" * 100,
    "very deep": b"[" * 200_000 + b"]" * 200_000,
    "deep objects": b'{"a":' * 40 + b"1" + b"}" * 40,
    "NaN": b'{"a": NaN}',
    "Infinity": b'{"a": [Infinity]}',
    "-Infinity": b'{"a": -Infinity}',
    "overflowing number": b'{"a": 1e999}',
    "huge integer": b'{"a": ' + b"9" * 5000 + b"}",
    "duplicate keys": b'{"type": 1, "type": 2}',
    "nested duplicate": b'{"credentialSubject": {"id": "a", "id": "b"}}',
    "not UTF-8": b'{"a": "\xff\xfe"}',
    "UTF-16": '{"a": 1}'.encode("utf-16"),
    "BOM": b'\xef\xbb\xbf{"a": 1}',
    "lone surrogate": b'{"a": "\\ud800"}',
    "truncated": b'{"a": [1, 2',
    "trailing garbage": b'{"a": 1} x',
    "empty": b"",
    "XML": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    "array": b"[]",
    "string": b'"urn:mra-exchange:bri:ccc:1.0"',
    "unknown profile": b'{"credentialSchema": {"id": "urn:mra-exchange:eu:ccc:1.0"}}',
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_refused(name: str) -> None:
    for read in (bri.parse, bri.check_bytes):  # the timeout mark catches a hang
        with pytest.raises(DocumentError):
            read(HOSTILE[name])


def test_duplicate_keys_in_a_real_credential_are_refused() -> None:
    data = bri.convert(samples.certificate())
    twice = b'"certificationStatus":"suspended","certificationStatus":"active"'
    doubled = data.replace(b'"certificationStatus":"active"', twice)
    with pytest.raises(DocumentError, match="duplicate key 'certificationStatus'"):
        bri.parse(doubled)


def test_limits_are_configurable_per_call() -> None:
    from exchange.formats.safe_json import JsonLimits

    data = bri.convert(samples.certificate())
    with pytest.raises(DocumentError, match="too large"):
        bri.parse(data, limits=JsonLimits(max_bytes=100))
    with pytest.raises(DocumentError, match="nested more than 3"):
        bri.check_bytes(data, limits=JsonLimits(max_depth=3))
