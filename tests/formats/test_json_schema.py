"""The compiled schema check agrees with jsonschema, which stays the authority."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from adapters.bri import format as bri
from exchange.errors import ConfigError, DocumentError
from exchange.formats.json_schema import CompiledJsonSchema, json_equal
from exchange.model import Kind
from exchange.resources import schema_path
from tests import canonical_samples as samples
from tests.credentials.helpers import issued_shape

DOCUMENTS = {  # as issued: with status entries (and PT's issue time)
    Kind.CCC: issued_shape(bri.map(samples.certificate())),
    Kind.GLP: issued_shape(bri.map(samples.glp_statement())),
    Kind.PT: issued_shape(bri.map(samples.scored_pt_round())),
}
SCHEMAS = {k: CompiledJsonSchema(schema_path("bri", f"{k}-credential-1.1.json")) for k in Kind}

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.5, 1.0, 1e300]),
    st.sampled_from(["", " x", "x", "active", "2019-13-01", "2019-03-01", "CN", "cn", "Party",
                     "urn:mra-exchange:certificate:2019010907123456", "governance.compliance",
                     "C62", "acceptable", "urn:mra-exchange:oecd-glp-area:9"]),
)  # fmt: skip
_keys = st.sampled_from(["type", "name", "x"])
_json = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_keys, inner, max_size=2),
    max_leaves=4,
)


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*here, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*here, i))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Kind, Any]:
    kind = draw(st.sampled_from(list(Kind)))
    doc = copy.deepcopy(DOCUMENTS[kind])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            continue
        *parents, last = path
        parent = doc
        for step in parents:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
        if action == "replace":
            parent[last] = draw(_json)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "type", "name", "otherArea"]))] = draw(_json)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
    return kind, doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_compiled_check_agrees_with_jsonschema_on_tampered_documents(case: tuple[Kind, Any]) -> None:
    kind, doc = case
    schema = SCHEMAS[kind]
    assert schema.is_valid(doc) == schema.validator.is_valid(doc)


@pytest.mark.parametrize("kind", list(Kind))
def test_both_accept_our_documents(kind: Kind) -> None:
    assert SCHEMAS[kind].is_valid(DOCUMENTS[kind])
    assert SCHEMAS[kind].validator.is_valid(DOCUMENTS[kind])


SMALL: list[tuple[dict[str, Any], list[Any], list[Any]]] = [
    ({"type": "integer"}, [1, 1.0, -3], [True, 1.5, "1", None]),
    ({"type": "number", "exclusiveMinimum": 0}, [0.1, 2], [0, -1, True, "1"]),
    ({"type": ["string", "null"]}, ["a", None], [1, []]),
    ({"const": [1, {"a": True}]}, [[1.0, {"a": True}]], [[True, {"a": True}], [1, {"a": 1}]]),
    ({"enum": [1, "a"]}, [1, 1.0, "a"], [True, "b"]),
    ({"pattern": "^a"}, ["ab", 5], ["ba"]),
    ({"maxLength": 2}, ["ab", "中文"], ["abc"]),
    ({"type": "array", "prefixItems": [{"type": "string"}], "items": False}, [[], ["a"]], [["a", "b"], [1]]),
    ({"type": "array", "uniqueItems": True}, [[1, True], [[1], [2]]], [[1, 1.0], [{"a": 1}, {"a": 1}]]),
    ({"contains": {"const": 9}, "minItems": 1}, [[1, 9], "x"], [[1, 2], []]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, [1, 2.5, "x"], [3, 1.5]),
    ({"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}, [{"a": 1}, 5], [{"c": 1}]),
    ({"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"not": {"required": ["c"]}}},
     [{"a": 1, "b": 2}, {}], [{"a": 1}, {"c": 1}]),
    ({"type": "object", "dependentRequired": {"a": ["b"]}, "additionalProperties": {"type": "integer"}},
     [{"a": 1, "b": 2}, {}], [{"a": 1}, {"b": "x"}, []]),
    ({"$defs": {"T": {"type": "array", "items": {"$ref": "#/$defs/T"}}}, "$ref": "#/$defs/T"},
     [[], [[[]]]], [[1], [[1]]]),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "good", "bad"), SMALL)
def test_keywords_match_jsonschema(
    tmp_path: Path, schema: dict[str, Any], good: list[Any], bad: list[Any]
) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"$id": "urn:test", **schema}), encoding="utf-8")
    compiled = CompiledJsonSchema(path)
    reference = Draft202012Validator({"$id": "urn:test", **schema})
    for value in good:
        assert compiled.is_valid(value) and reference.is_valid(value), value
    for value in bad:
        assert not compiled.is_valid(value) and not reference.is_valid(value), value


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string", "format": "date"}, "uses ['format']"),
        ({"$ref": "other.json#/x"}, "only local #/$defs/ references"),
        ({"$ref": "#/$defs/Nope"}, "#/$defs/Nope is not defined"),
        ({"type": "strung"}, "not a valid JSON Schema"),
        ({"title": "no $id", "$id": ""}, "has no $id"),
    ],
)
def test_unsupported_or_broken_schemas_fail_at_load(
    tmp_path: Path, schema: dict[str, Any], message: str
) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"$id": "urn:test", **schema}), encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("$", r"\$").replace("[", r"\[")):
        CompiledJsonSchema(path)


def test_failures_carry_at_most_twenty_messages() -> None:
    doc = copy.deepcopy(DOCUMENTS[Kind.PT])
    for entry in doc["credentialSubject"]["participantResults"] * 6:
        entry["participant"] = ""
    doc["credentialSubject"]["participantResults"] *= 6
    with pytest.raises(DocumentError) as caught:
        SCHEMAS[Kind.PT].check(doc)
    assert 1 < len(caught.value.messages) <= 20


def test_json_equality_is_not_python_equality() -> None:
    assert json_equal(1, 1.0) and not json_equal(True, 1) and not json_equal(0, False)
    assert json_equal({"a": [1, "x"]}, {"a": [1.0, "x"]}) and not json_equal([1], [1, 1])
    assert not json_equal("1", 1) and json_equal(None, None) and not json_equal(None, 0)
