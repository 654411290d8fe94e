"""KR PT rounds: the EU PT content in Korean public-data naming, both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from adapters.eu import format as eu
from adapters.kr import format as kr
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

NS = {"kr": "urn:mra-exchange:kr:pt:1.0"}
SAMPLES = pt_samples()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_renders_and_validates(name: str) -> None:
    assert kr.check_bytes(kr.convert(SAMPLES[name])) is Kind.PT


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_gives_the_same_round(name: str) -> None:
    assert kr.parse(kr.convert(SAMPLES[name])) == SAMPLES[name]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_kr_and_eu_carry_the_same_content(name: str) -> None:
    assert kr.parse(kr.convert(SAMPLES[name])) == eu.parse(eu.convert(SAMPLES[name]))


def test_korean_naming_and_flags() -> None:
    record = SAMPLES["consensus-scored"]
    assert record.scoring is not None
    root = etree.fromstring(kr.convert(record))
    assert root.findtext("kr:ptOrganName", namespaces=NS) == "示例能力验证提供者"
    assert root.findtext("kr:roundId", namespaces=NS) == "2019-02"
    used = root.find("kr:scoring/kr:assignedValUsed", NS)
    assert used is not None
    flag = used.findtext("kr:uncertNegligibleYn", namespaces=NS)
    assert flag == ("Y" if record.scoring.assigned.u_negligible else "N")
    assert root.findtext("kr:scoring/kr:participantCnt", namespaces=NS) == "7"
    outlier = root.find("kr:scoring/kr:labScores/kr:labScore[kr:labCode='L06']", NS)
    assert outlier is not None and outlier.findtext("kr:zSignal", namespaces=NS) == "action"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pt_rounds())
def test_round_trip_holds_for_varied_rounds(record: PtRound) -> None:
    data = kr.convert(record)
    assert kr.check_bytes(data) is Kind.PT
    assert kr.parse(data) == record


def test_an_unmapped_assigned_method_names_field_and_partner(tmp_path: Path) -> None:
    fmt = edited_format("kr", tmp_path, lambda t: t.replace(', consensus = "consensus"', ""))
    with pytest.raises(MappingError) as caught:
        fmt.map(samples.pt_round(assigned={"method": "consensus"}))
    assert caught.value.field == "assigned.method"
    assert "'consensus'" in str(caught.value) and "kr" in str(caught.value)


def test_a_missing_required_value_is_a_mapping_error_naming_it() -> None:
    record = samples.pt_round().model_copy(update={"unit": ""})
    with pytest.raises(MappingError) as caught:
        kr.map(record)
    assert caught.value.field == "unit"


@pytest.mark.parametrize(
    ("xpath", "action"),
    [
        ("kr:scoring/kr:assignedValUsed/kr:uncertNegligibleYn", "enumeration"),
        ("kr:assignedValue/kr:assignedMethod", "enumeration"),
        ("kr:roundId", "remove"),
        ("kr:results/kr:result/kr:expUncert", "negative"),
    ],
)
def test_the_schema_rejects_a_tampered_document_with_line_and_column(xpath: str, action: str) -> None:
    root = etree.fromstring(kr.convert(samples.scored_pt_round()))
    target = root.find(xpath, NS)
    assert target is not None
    if action == "remove":
        parent = target.getparent()
        assert parent is not None
        parent.remove(target)
    else:
        target.text = "-0.5" if action == "negative" else "true"
    data = etree.tostring(root, pretty_print=True)
    with pytest.raises(DocumentError) as caught:
        kr.check_bytes(data)
    assert caught.value.messages
    assert all(LINE_COLUMN.match(m) for m in caught.value.messages)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_a_document_error(name: str) -> None:
    with pytest.raises(DocumentError):
        kr.parse(HOSTILE[name])
