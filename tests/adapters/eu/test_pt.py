"""EU PT rounds: the round as declared, raw results and the scores, both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from adapters.eu import format as eu
from exchange.errors import DocumentError, MappingError
from exchange.model import Kind, PtRound
from tests import canonical_samples as samples
from tests.adapters.eu.support import (
    HOSTILE,
    LINE_COLUMN,
    edited_format,
    pt_rounds,
    pt_samples,
)

NS = {"eu": "urn:mra-exchange:eu:pt:1.0"}

SAMPLES = pt_samples()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_renders_and_validates(name: str) -> None:
    assert eu.check_bytes(eu.convert(SAMPLES[name])) is Kind.PT


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_gives_the_same_round(name: str) -> None:
    assert eu.parse(eu.convert(SAMPLES[name])) == SAMPLES[name]


def test_the_scores_and_algorithm_a_are_carried() -> None:
    record = SAMPLES["consensus-scored"]
    assert record.scoring is not None and record.scoring.algorithm_a is not None
    root = etree.fromstring(eu.convert(record))
    scoring = root.find("eu:Scoring", NS)
    assert scoring is not None
    assert scoring.findtext("eu:AssignedValueUsed/eu:Method", namespaces=NS) == "consensus"
    assert scoring.findtext("eu:AssignedValueUsed/eu:UncertaintyNegligible", namespaces=NS) in (
        "true",
        "false",
    )
    iterations = scoring.findtext("eu:AlgorithmA/eu:Iterations", namespaces=NS)
    assert iterations == str(record.scoring.algorithm_a.iterations)
    assert scoring.findtext("eu:Participants", namespaces=NS) == "7"
    outlier = scoring.find("eu:Scores/eu:LabScore[eu:LabCode='L06']", NS)
    assert outlier is not None and outlier.findtext("eu:ZSignal", namespaces=NS) == "action"
    censored = scoring.find("eu:Scores/eu:LabScore[eu:LabCode='L08']", NS)
    assert censored is not None and censored.find("eu:Z", NS) is None


def test_an_unscored_round_has_no_scoring_part() -> None:
    root = etree.fromstring(eu.convert(samples.pt_round()))
    assert root.find("eu:Scoring", NS) is None


def test_the_template_covers_every_field_of_a_result() -> None:
    """PtResult may grow (reported scores were added): each field must have an element."""
    from exchange.model.pt import PtResult

    full = PtResult.model_validate(
        {"lab": "L1", "value": 1.0, "u": 0.1, "U": 0.2, "k": 2, "remark": "r"}
        | {"z": 0.5, "zPrime": 0.4, "zeta": 0.3, "En": 0.2}
    )
    assert set(full.model_fields_set) == set(PtResult.model_fields)
    record = samples.pt_round(results=[full.model_dump(by_alias=True)])
    back = eu.parse(eu.convert(record))
    assert isinstance(back, PtRound)
    assert back.results == [full]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pt_rounds())
def test_round_trip_holds_for_varied_rounds(record: PtRound) -> None:
    data = eu.convert(record)
    assert eu.check_bytes(data) is Kind.PT
    assert eu.parse(data) == record


def test_an_unmapped_sigma_method_names_field_and_partner(tmp_path: Path) -> None:
    fmt = edited_format("eu", tmp_path, lambda t: t.replace(', robust = "robust"', ""))
    record = samples.pt_round(sigmaPt={"method": "robust"})
    with pytest.raises(MappingError) as caught:
        fmt.map(record)
    assert caught.value.field == "sigmaPt.method"
    assert "'robust'" in str(caught.value) and "eu" in str(caught.value)


def test_an_unmapped_signal_names_the_score_field(tmp_path: Path) -> None:
    fmt = edited_format("eu", tmp_path, lambda t: t.replace(', action = "action"', ""))
    with pytest.raises(MappingError) as caught:
        fmt.map(samples.scored_pt_round())
    assert caught.value.field is not None
    assert caught.value.field.startswith("scoring.results[].signals.")
    assert "eu" in str(caught.value)


def test_a_missing_required_value_is_a_mapping_error_naming_it() -> None:
    record = samples.pt_round().model_copy(update={"matrix": ""})
    with pytest.raises(MappingError) as caught:
        eu.map(record)
    assert caught.value.field == "matrix"


@pytest.mark.parametrize(
    ("xpath", "action"),
    [
        ("eu:SigmaPt/eu:Method", "enumeration"),
        ("eu:Scoring/eu:Scores/eu:LabScore/eu:ZSignal", "enumeration"),
        ("eu:Unit", "remove"),
        ("eu:Scoring/eu:Participants", "remove"),
        ("eu:Results/eu:Result/eu:Value", "infinity"),
    ],
)
def test_the_schema_rejects_a_tampered_document_with_line_and_column(xpath: str, action: str) -> None:
    root = etree.fromstring(eu.convert(samples.scored_pt_round()))
    target = root.find(xpath, NS)
    assert target is not None
    if action == "remove":
        parent = target.getparent()
        assert parent is not None
        parent.remove(target)
    else:
        target.text = "INF" if action == "infinity" else "sometimes"
    data = etree.tostring(root, pretty_print=True)
    with pytest.raises(DocumentError) as caught:
        eu.check_bytes(data)
    assert caught.value.messages
    assert all(LINE_COLUMN.match(m) for m in caught.value.messages)


def test_a_lab_reporting_twice_is_rejected_by_the_schema() -> None:
    root = etree.fromstring(eu.convert(samples.pt_round()))
    second = root.find("eu:Results/eu:Result[2]/eu:LabCode", NS)
    assert second is not None
    second.text = "L01"
    with pytest.raises(DocumentError):
        eu.check_bytes(etree.tostring(root))


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_a_document_error(name: str) -> None:
    with pytest.raises(DocumentError):
        eu.parse(HOSTILE[name])
