"""GLP and PT records map almost 1:1; their errors use the domestic field paths."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from adapters.domestic import source
from exchange.errors import RecordError
from exchange.model import GlpArea, GlpStatement, InspectionType, PtRound
from tests.adapters.domestic.synth import SAMPLES

GLP: dict[str, Any] = json.loads((SAMPLES / "glp.json").read_text(encoding="utf-8"))
PT: dict[str, Any] = json.loads((SAMPLES / "pt-round.json").read_text(encoding="utf-8"))


def parse(record: dict[str, Any]) -> GlpStatement | PtRound:
    result = source.parse_message(json.dumps(record, ensure_ascii=False).encode())
    assert isinstance(result, GlpStatement | PtRound)
    return result


def error(record: dict[str, Any]) -> RecordError:
    with pytest.raises(RecordError) as err:
        parse(record)
    return err.value


def test_glp_maps() -> None:
    record = copy.deepcopy(GLP)
    record["inspections"][0]["date"] = "2019年5月20日"
    record["inspections"][0]["endDate"] = "2019/5/23"
    record["areas"] = [1, "２", 9]
    record["otherArea"] = "genomics"
    glp = parse(record)
    assert isinstance(glp, GlpStatement)
    assert glp.inspections[0].type is InspectionType.FULL
    assert str(glp.inspections[0].end_date) == "2019-05-23"
    assert glp.areas == [GlpArea.PHYSICAL_CHEMICAL, GlpArea.TOXICITY, GlpArea.OTHER]
    assert glp.study_audits[0].study_id == "S-2019-017"


def test_glp_errors_name_field_and_record() -> None:
    record = copy.deepcopy(GLP)
    record["inspections"][0]["type"] = "PARTIAL"
    err = error(record)
    assert err.field == "inspections[0].type"
    assert err.record_id is not None
    assert err.record_id.startswith("CN-20190630-")
    record = copy.deepcopy(GLP)
    record["statementDate"] = "2019-06-31"
    err = error(record)
    assert (err.field, err.record_id) == ("statementDate", None)
    record = copy.deepcopy(GLP)
    record["areas"] = [1, 9]
    err = error(record)
    assert "otherArea is required" in err.reason


def test_glp_record_id_matches_the_model() -> None:
    record = copy.deepcopy(GLP)
    record["status"] = "XX"
    err = error(record)
    assert err.record_id == parse(GLP).record_id


def test_pt_maps_and_passes_results_through() -> None:
    pt = parse(PT)
    assert isinstance(pt, PtRound)
    assert pt.assigned.value is None
    assert pt.results[0].expanded_u == 4.0
    assert pt.results[11].remark == "<LOQ"


def test_pt_result_error_path() -> None:
    record = copy.deepcopy(PT)
    record["results"][3]["k"] = -2
    err = error(record)
    assert (err.field, err.record_id) == ("results[3].k", "TOY-PB-2019-03")
    record = copy.deepcopy(PT)
    del record["results"][3]["k"]
    err = error(record)
    assert err.field == "results[3]"
    assert "needs its coverage factor k" in err.reason


def test_pt_numbers_as_full_width_text() -> None:
    record = copy.deepcopy(PT)
    record["sigmaPt"]["value"] = "４.０"
    record["scheme"] = "ＴＯＹ-PB"
    pt = parse(record)
    assert isinstance(pt, PtRound)
    assert pt.sigma_pt.value == 4.0
    assert pt.record_id == "TOY-PB-2019-03"


def test_pt_scoring_from_domestic_is_refused() -> None:
    record = copy.deepcopy(PT)
    record["scoring"] = {}
    assert error(record).field == "scoring"


def test_undetectable_record() -> None:
    with pytest.raises(RecordError, match="cannot tell the kind of record"):
        parse({"name": "x"})
