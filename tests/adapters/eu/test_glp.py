"""EU GLP compliance statements: render, validate, round trip, code lists, hostile input."""

from __future__ import annotations

from pathlib import Path

import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from adapters.eu import format as eu
from exchange.checks import mapping_problems
from exchange.config import load_config
from exchange.errors import DocumentError, MappingError
from exchange.model import GlpStatement, Kind
from tests import canonical_samples as samples
from tests.adapters.eu.support import HOSTILE, LINE_COLUMN, edited_format, glp_statements

NS = {"eu": "urn:mra-exchange:eu:glp:1.0"}
COUNTRIES = sorted(c.alpha_2 for c in pycountry.countries)

SAMPLES = {
    "full": samples.glp_statement(),
    "minimal": samples.glp_statement(
        facility={"name": "Example Lab", "country": "CN"},
        inspections=[{"date": "2020-01-02", "type": "FAC"}],
        areas=[4],
        otherArea=None,
        studyAudits=[],
    ),
    "re-inspection-not-in-compliance": samples.glp_statement(
        inspections=[
            {"date": "2019-05-20", "endDate": "2019-05-23", "type": "FULL"},
            {"date": "2020-02-03", "type": "RE-I"},
        ],
        areas=[1, 2, 3, 4, 5, 6, 7, 8],
        otherArea=None,
        status="NIC",
    ),
}


def _tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_renders_and_validates(name: str) -> None:
    data = eu.convert(SAMPLES[name])
    assert eu.check_bytes(data) is Kind.GLP


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_gives_the_same_record(name: str) -> None:
    assert eu.parse(eu.convert(SAMPLES[name])) == SAMPLES[name]


def test_the_regulator_format_carries_study_audits_and_oecd_area_names() -> None:
    root = _tree(eu.convert(samples.glp_statement()))
    audits = root.findall("eu:StudyAudits/eu:StudyAudit", NS)
    assert [a.findtext("eu:StudyId", namespaces=NS) for a in audits] == ["S-2019-017"]
    areas = root.findall("eu:AreasOfExpertise/eu:Area", NS)
    assert [(a.text, a.get("name")) for a in areas] == [
        ("1", "Physical-chemical testing"),
        ("2", "Toxicity studies"),
        ("9", "Other studies"),
    ]
    assert root.findtext("eu:OtherArea", namespaces=NS) == "Nanomaterial characterisation"
    assert root.findtext("eu:Inspections/eu:Inspection/eu:Type", namespaces=NS) == "FULL"


def test_the_area_name_is_not_read_back_the_number_is() -> None:
    root = _tree(eu.convert(samples.glp_statement()))
    area = root.find("eu:AreasOfExpertise/eu:Area", NS)
    assert area is not None
    area.set("name", "Residue studies")  # a valid OECD name, but not area 1's
    back = eu.parse(etree.tostring(root))
    assert isinstance(back, GlpStatement)
    assert back.areas == samples.glp_statement().areas


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(glp_statements(COUNTRIES))
def test_round_trip_holds_for_varied_statements(record: GlpStatement) -> None:
    data = eu.convert(record)
    assert eu.check_bytes(data) is Kind.GLP
    assert eu.parse(data) == record


def test_an_unmapped_status_names_field_and_partner(tmp_path: Path) -> None:
    fmt = edited_format("eu", tmp_path, lambda t: t.replace(', RFP = "RFP"', ""))
    with pytest.raises(MappingError) as caught:
        fmt.map(samples.glp_statement(status="RFP"))
    assert caught.value.field == "status"
    assert "'RFP'" in str(caught.value) and "eu" in str(caught.value)


def test_an_unmapped_inspection_type_names_field_and_partner(tmp_path: Path) -> None:
    fmt = edited_format("eu", tmp_path, lambda t: t.replace(', FAC = "FAC"', ""))
    record = samples.glp_statement(inspections=[{"date": "2020-01-02", "type": "FAC"}])
    with pytest.raises(MappingError) as caught:
        fmt.map(record)
    assert caught.value.field == "inspections[].type"
    assert "eu" in str(caught.value)


def test_a_missing_required_value_is_a_mapping_error_naming_it() -> None:
    record = samples.glp_statement().model_copy(update={"authority": ""})
    with pytest.raises(MappingError) as caught:
        eu.map(record)
    assert caught.value.field == "authority"


def test_every_glp_code_is_mapped_for_the_eu_agreement() -> None:
    assert mapping_problems(load_config(), ["eu"]) == []
    assert "urn:mra-exchange:eu:glp:1.0" in eu.namespaces()


@pytest.mark.parametrize(
    ("xpath", "action"),
    [
        ("eu:ComplianceStatus", "enumeration"),
        ("eu:Inspections/eu:Inspection/eu:Type", "enumeration"),
        ("eu:StatementDate", "remove"),
        ("eu:TestFacility/eu:Country", "remove"),
    ],
)
def test_the_schema_rejects_a_tampered_document_with_line_and_column(xpath: str, action: str) -> None:
    root = _tree(eu.convert(samples.glp_statement()))
    target = root.find(xpath, NS)
    assert target is not None
    if action == "remove":
        parent = target.getparent()
        assert parent is not None
        parent.remove(target)
    else:
        target.text = "XX"
    data = etree.tostring(root, pretty_print=True)
    with pytest.raises(DocumentError) as caught:
        eu.check_bytes(data)
    assert caught.value.messages
    assert all(LINE_COLUMN.match(m) for m in caught.value.messages)
    with pytest.raises(DocumentError):
        eu.parse(data)


def test_a_duplicated_area_is_rejected_by_the_schema() -> None:
    root = _tree(eu.convert(samples.glp_statement()))
    areas = root.find("eu:AreasOfExpertise", NS)
    assert areas is not None
    areas[1].text = "1"
    areas[1].set("name", "Physical-chemical testing")
    with pytest.raises(DocumentError):
        eu.check_bytes(etree.tostring(root))


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_a_document_error(name: str) -> None:
    with pytest.raises(DocumentError):
        eu.parse(HOSTILE[name])
