"""The template language, on a small template written here (independent of partners)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from exchange.errors import ConfigError, MappingError, RecordError
from exchange.mapping.codes import load_code_lists
from exchange.mapping.template import Template
from tests import canonical_samples as samples

CODES = """
[status]
domain = "cert-status"
map = { VALID = "V", SUSPENDED = "S", WITHDRAWN = "W", CANCELLED = "C", EXPIRED = "E" }
[label]
domain = "cert-status"
map = { VALID = "valid", SUSPENDED = "suspended", WITHDRAWN = "withdrawn", CANCELLED = "cancelled", \
EXPIRED = "expired" }
[label.reverse]
"""

TEMPLATE = """<t:Cert xmlns:t="urn:test" xmlns:m="urn:mra-exchange:mapping:1" version="1">
  <t:No m:value="cert_no"/>
  <t:State code="{status|status}" m:value="status|label"/>
  <t:Const>fixed</t:Const>
  <t:Maker m:with="manufacturer" m:optional="true"><t:Name m:value="name"/></t:Maker>
  <t:Factory m:each="factories"><t:Name m:value="name"/><t:Country m:value="country"/></t:Factory>
  <t:Models><t:Model m:each="product.models" m:value="."/></t:Models>
  <t:Expiry m:value="expiry_date" m:optional="true"/>
  <t:History m:if="history"><t:Item m:each="history" m:value="date"/></t:History>
  <t:Derived m:value="status|label" m:direction="out"/>
</t:Cert>"""


@pytest.fixture
def template(tmp_path: Path) -> Template:
    (tmp_path / "codes.toml").write_text(CODES, encoding="utf-8")
    (tmp_path / "t.xml").write_text(TEMPLATE, encoding="utf-8")
    return Template(tmp_path / "t.xml", load_code_lists(tmp_path / "codes.toml"), "test")


def _tree(template: Template, record: object) -> etree._Element:
    return etree.fromstring(template.render(record))


def _text(root: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in root.iterfind(path, {"t": "urn:test"})]


def test_renders_values_codes_attributes_lists_and_constants(template: Template) -> None:
    root = _tree(template, samples.certificate())
    assert root.get("version") == "1"
    assert _text(root, "t:No") == ["2019010907123456"]
    state = root.find("t:State", {"t": "urn:test"})
    assert state is not None and state.get("code") == "V" and state.text == "valid"
    assert _text(root, "t:Const") == ["fixed"]
    assert _text(root, "t:Factory/t:Country") == ["VN"]
    assert _text(root, "t:Models/t:Model") == ["PA-12V-1A", "PA-12V-2A"]
    assert _text(root, "t:Expiry") == ["2024-03-01"]
    assert _text(root, "t:History/t:Item") == ["2021-05-06"]
    assert "urn:mra-exchange:mapping:1" not in etree.tostring(root).decode()


def test_optional_and_conditional_parts_are_left_out(template: Template) -> None:
    record = samples.certificate(expiryDate=None, history=[])
    root = _tree(template, record)
    assert _text(root, "t:Expiry") == []
    assert root.find("t:History", {"t": "urn:test"}) is None


def test_parse_reads_back_what_render_wrote(template: Template) -> None:
    record = samples.certificate()
    values = template.parse(_tree(template, record))
    assert values["cert_no"] == record.cert_no
    assert values["status"] == "VALID"
    assert values["product"]["models"] == ["PA-12V-1A", "PA-12V-2A"]
    assert values["factories"] == [{"name": record.factories[0].name, "country": "VN"}]
    assert values["expiry_date"] == "2024-03-01"
    assert "Derived" not in str(values)


def test_a_missing_required_value_names_the_field(template: Template) -> None:
    record = samples.certificate().model_copy(update={"cert_no": ""})
    with pytest.raises(MappingError, match="certNo"):
        template.render(record)


def test_a_code_without_mapping_names_list_field_and_partner(tmp_path: Path) -> None:
    (tmp_path / "codes.toml").write_text(CODES.replace(', EXPIRED = "E"', ""), encoding="utf-8")
    (tmp_path / "t.xml").write_text(TEMPLATE, encoding="utf-8")
    template = Template(tmp_path / "t.xml", load_code_lists(tmp_path / "codes.toml"), "test")
    with pytest.raises(MappingError) as caught:
        template.render(samples.certificate(status="EXPIRED"))
    message = str(caught.value)
    assert "'EXPIRED'" in message and "'status'" in message and "test" in message
    assert caught.value.field == "status"


def test_an_unknown_partner_code_on_parse_is_a_record_error(template: Template) -> None:
    root = _tree(template, samples.certificate())
    state = root.find("t:State", {"t": "urn:test"})
    assert state is not None
    state.set("code", "Q")
    with pytest.raises(RecordError, match="'Q'"):
        template.parse(root)


def test_a_template_naming_an_undefined_code_list_fails_at_load(tmp_path: Path) -> None:
    (tmp_path / "codes.toml").write_text(CODES, encoding="utf-8")
    (tmp_path / "t.xml").write_text(TEMPLATE.replace("status|label", "status|nope"), encoding="utf-8")
    with pytest.raises(ConfigError, match="'nope' is not defined"):
        Template(tmp_path / "t.xml", load_code_lists(tmp_path / "codes.toml"), "test")


def test_a_code_list_that_is_not_one_to_one_needs_a_reverse_table(tmp_path: Path) -> None:
    (tmp_path / "codes.toml").write_text('[s]\nmap = { A = "x", B = "x" }\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="give a 'reverse' table"):
        load_code_lists(tmp_path / "codes.toml")


def test_text_and_attributes_are_escaped(template: Template) -> None:
    tricky = "A & B <\"quoted\"> 'single' line"
    record = samples.certificate(factories=[{"name": tricky, "country": "VN"}])
    root = _tree(template, record)
    assert _text(root, "t:Factory/t:Name") == [tricky]
    assert template.parse(root)["factories"][0]["name"] == tricky


def test_code_list_values_are_escaped_in_text_and_attributes(tmp_path: Path) -> None:
    """Partner values come escaped from the compiled code list (text and attribute
    forms differ), and a date or enum value is formatted before its code is looked up."""
    codes = CODES.replace('VALID = "V"', 'VALID = "V&\\"1\\"<>"').replace(
        'VALID = "valid"', 'VALID = "valid & <sound>\\ttab"'
    )
    (tmp_path / "codes.toml").write_text(codes, encoding="utf-8")
    (tmp_path / "t.xml").write_text(TEMPLATE, encoding="utf-8")
    template = Template(tmp_path / "t.xml", load_code_lists(tmp_path / "codes.toml"), "test")
    root = _tree(template, samples.certificate(status="VALID"))
    state = root.find("t:State", {"t": "urn:test"})
    assert state is not None
    assert state.get("code") == 'V&"1"<>'
    assert state.text == "valid & <sound>\ttab"
    assert _text(root, "t:Derived") == ["valid & <sound>\ttab"]
    assert template.parse(root)["status"] == "VALID"
