"""The JSON template language, on small templates written here (independent of bri)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from exchange.errors import ConfigError, DocumentError, MappingError
from exchange.formats.jsonld import JsonLdPartnerFormat
from exchange.mapping.codes import load_code_lists
from exchange.mapping.json_template import Compiler, Node
from exchange.model import ProductCertificate
from exchange.resources import mapping_path, schema_path
from tests import canonical_samples as samples

CODES = """
[status]
domain = "cert-status"
map = { VALID = "V", SUSPENDED = "S", WITHDRAWN = "W", CANCELLED = "C", EXPIRED = "E" }
[flag]
domain = "cert-status"
[flag.map]
VALID = "true"
SUSPENDED = "false"
WITHDRAWN = "false"
CANCELLED = "false"
EXPIRED = "false"
[flag.reverse]
"""


@pytest.fixture
def compiler(tmp_path: Path) -> Compiler:
    (tmp_path / "codes.toml").write_text(CODES, encoding="utf-8")
    return Compiler(
        load_code_lists(tmp_path / "codes.toml"),
        "test",
        shared={"who": {"name": "CNCA", "tags": ["a", "b"]}},
        id_namespace=uuid.UUID(int=7),
    )


def _compile(compiler: Compiler, template: Any) -> Node:
    return compiler.compile(template, ProductCertificate, "t.json")


def _read(node: Node, doc: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node.read(doc, out, out)
    return out


TEMPLATE: dict[str, Any] = {
    "no": "{cert_no}",
    "urn": "urn:x:{cert_no}",
    "both": "{scheme}/{cert_no}",
    "state": "{status|status}",
    "ok": {"$value": "status", "$codes": "flag", "$as": "boolean", "$out": True},
    "braces": "{{literal}}",
    "who": {"$shared": "who"},
    "raw": {"$const": {"$value": "not a directive"}},
    "id": {"$uuid5": "ccc:{cert_no}"},
    "expiry": {"$value": "expiry_date", "$optional": True},
    "maker": {"$with": "manufacturer", "$optional": True, "$item": {"name": "{name}"}},
    "factories": {"$each": "factories", "$item": {"name": "{name}", "country": "{country}"}},
    "models": {"$each": "product.models", "$item": "{.}"},
    "hs": {"$if": "product.hs_code", "$then": "has HS code", "$else": "no HS code"},
    "classes": [
        {"scheme": "ccc", "code": "{product.category}"},
        {"$if": "product.hs_code", "$then": {"scheme": "hs", "code": "{product.hs_code}"}},
    ],
    "history": {"$each": "history", "$optional": True, "$item": {
        "date": "{date}", "reason": {"$value": "reason", "$optional": True},
        "applicant": {"$text": "{/applicant.name}", "$out": True}}},
}  # fmt: skip


def test_renders_every_directive(compiler: Compiler) -> None:
    doc = _compile(compiler, TEMPLATE).render(samples.certificate(), samples.certificate())
    assert doc["no"] == "2019010907123456"
    assert doc["urn"] == "urn:x:2019010907123456"
    assert doc["both"] == "CCC/2019010907123456"
    assert (doc["state"], doc["ok"], doc["braces"]) == ("V", True, "{literal}")
    assert doc["who"] == {"name": "CNCA", "tags": ["a", "b"]}
    assert doc["raw"] == {"$value": "not a directive"}
    assert doc["id"] == f"urn:uuid:{uuid.uuid5(uuid.UUID(int=7), 'ccc:2019010907123456')}"
    assert doc["expiry"] == "2024-03-01"
    assert doc["maker"] == {"name": "深圳市示例电子有限公司"}
    assert doc["factories"] == [{"name": "EXAMPLE FACTORY (VIETNAM) CO., LTD.", "country": "VN"}]
    assert doc["models"] == ["PA-12V-1A", "PA-12V-2A"]
    assert doc["hs"] == "has HS code"
    assert doc["classes"] == [{"scheme": "ccc", "code": "0907"}, {"scheme": "hs", "code": "850440"}]
    assert doc["history"][0]["applicant"] == "深圳市示例电子有限公司"


def test_optional_parts_are_left_out(compiler: Compiler) -> None:
    record = samples.certificate(expiryDate=None, history=[], scheme="KC", certNo="SU071356-12001",
                                 manufacturer=None, product={"name": "x", "category": "0907",
                                                             "models": ["m"]})  # fmt: skip
    doc = _compile(compiler, TEMPLATE).render(record, record)
    assert not {"expiry", "maker", "history"} & set(doc)
    assert doc["hs"] == "no HS code"
    assert doc["classes"] == [{"scheme": "ccc", "code": "0907"}]


def test_reads_back_what_it_wrote_and_skips_derived_values(compiler: Compiler) -> None:
    record = samples.certificate()
    node = _compile(compiler, TEMPLATE)
    values = _read(node, node.render(record, record))
    assert values["cert_no"] == "2019010907123456"
    assert values["status"] == "VALID"
    assert values["manufacturer"] == {"name": record.manufacturer.name}  # type: ignore[union-attr]
    assert values["product"] == {"models": ["PA-12V-1A", "PA-12V-2A"], "category": "0907",
                                 "hs_code": "850440"}  # fmt: skip
    assert values["factories"] == [{"name": record.factories[0].name, "country": "VN"}]
    assert values["history"] == [{"date": "2021-05-06", "reason": "型号增加"}]
    assert "scheme" not in values  # only in a two-placeholder string: render-only


def test_literal_list_entries_are_matched_by_their_constants(compiler: Compiler) -> None:
    node = _compile(compiler, {"classes": TEMPLATE["classes"]})
    values = _read(node, {"classes": [{"scheme": "hs", "code": "850440"}, {"scheme": "ccc", "code": "0907"}]})
    assert values == {"product": {"hs_code": "850440", "category": "0907"}}
    assert _read(node, {"classes": [{"scheme": "ccc", "code": "0907"}]}) == {"product": {"category": "0907"}}


def test_a_missing_required_value_names_the_field(compiler: Compiler) -> None:
    node = _compile(compiler, {"expiry": "{expiry_date}", "f": {"$each": "factories", "$item": "{name}"}})
    record = samples.certificate(expiryDate=None)
    with pytest.raises(MappingError) as caught:
        node.render(record, record)
    assert caught.value.field == "expiryDate"
    node = _compile(compiler, {"b": {"$each": "product.brands", "$item": "{.}"}})
    with pytest.raises(MappingError) as caught:
        node.render(record, record)
    assert caught.value.field == "product.brands"


def test_an_unmapped_code_names_field_partner_and_list(compiler: Compiler) -> None:
    codes = load_code_lists(Path(compiler.codes["status"].source))
    del codes["status"].forward["VALID"]
    template = {"c": {"$each": "history", "$item": "{status|status}"}}
    node = Compiler(codes, "test").compile(template, ProductCertificate, "t.json")
    record = samples.certificate()
    with pytest.raises(MappingError) as caught:
        node.render(record, record)
    assert caught.value.field == "history[].status"
    assert "test code list 'status'" in str(caught.value)


def test_a_string_that_lost_its_literal_text_is_refused(compiler: Compiler) -> None:
    node = _compile(compiler, {"urn": "urn:x:{cert_no}"})
    with pytest.raises(DocumentError, match="does not have the form urn:x:"):
        _read(node, {"urn": "urn:y:2019010907123456"})


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ({"a": "{no_such_field}"}, "ProductCertificate has no attribute 'no_such_field'"),
        ({"a": "{product.colour}"}, "Product has no attribute 'colour'"),
        ({"a": "{cert_no.length}"}, "cannot be looked up inside"),
        ({"a": {"$each": "cert_no", "$item": "{.}"}}, "$each needs a list"),
        ({"a": "{status|nope}"}, "code list 'nope' is not defined"),
        ({"a": {"$value": "status", "$as": "boolean"}}, "$as only types"),
        ({"a": {"$value": "status", "$codes": "status", "$as": "date"}}, "$as must be one of"),
        ({"a": {"$valeu": "status"}}, "unknown template keys ['$valeu']"),
        ({"a": {"$value": "status", "$each": "factories"}}, "more than one directive"),
        ({"a": {"$optional": True}}, "without a directive"),
        ({"a": {"$with": "applicant"}}, "$with needs $item"),
        ({"a": {"$if": "expiry_date"}}, "$if needs $then"),
        (
            {"a": {"$if": "expiry_date", "$then": "x", "$else": "{cert_no}"}},
            "$else must be a constant",
        ),
        ({"a": {"$shared": "nobody"}}, "shared constant 'nobody' is not defined"),
        ({"a": {"$uuid5": "constant"}}, "$uuid5 needs at least one placeholder"),
        ({"a": {"$value": "status", "$item": "x"}}, "$value does not take ['$item']"),
        ({"a": {"$value": ""}}, "empty path"),
    ],
)
def test_template_mistakes_are_found_when_compiling(compiler: Compiler, template: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _compile(compiler, template)
    assert message in str(caught.value)
    assert "t.json" in str(caught.value)


def _copy_bri(tmp_path: Path) -> Path:
    for name in ("format.toml", "codes.toml", "ccc.json", "glp.json", "pt.json"):
        shutil.copy(mapping_path("bri", name), tmp_path / name)
    return tmp_path / "format.toml"


def test_a_template_must_name_its_schemas_profile(tmp_path: Path) -> None:
    manifest = _copy_bri(tmp_path)
    template = json.loads((tmp_path / "glp.json").read_text(encoding="utf-8"))
    template["credentialSchema"]["id"] = "urn:mra-exchange:bri:glp:2.0"
    (tmp_path / "glp.json").write_text(json.dumps(template), encoding="utf-8")
    with pytest.raises(ConfigError, match="must name its schema's profile"):
        JsonLdPartnerFormat.from_manifest("bri", manifest)


def test_broken_manifests_and_templates_are_config_errors(tmp_path: Path) -> None:
    manifest = _copy_bri(tmp_path)
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("[families.pt]", "[families.xx]"), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown family 'xx'"):
        JsonLdPartnerFormat.from_manifest("bri", manifest)
    manifest.write_text(text.replace('id_namespace = "', 'id_namespace = "x'), encoding="utf-8")
    with pytest.raises(ConfigError, match="not a UUID"):
        JsonLdPartnerFormat.from_manifest("bri", manifest)
    manifest.write_text(text, encoding="utf-8")
    (tmp_path / "pt.json").write_text('{"a": 1, "a": 2}', encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key"):
        JsonLdPartnerFormat.from_manifest("bri", manifest)
    (tmp_path / "pt.json").write_text('{"a": NaN}', encoding="utf-8")
    with pytest.raises(ConfigError, match="NaN is not JSON"):
        JsonLdPartnerFormat.from_manifest("bri", manifest)


def test_shipped_schemas_have_the_profile_ids() -> None:
    for family, version in [(f, v) for f in ("ccc", "glp", "pt") for v in ("1.0", "1.1")]:
        path = schema_path("bri", f"{family}-credential-{version}.json")
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["$id"] == f"urn:mra-exchange:bri:{family}:{version}"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
