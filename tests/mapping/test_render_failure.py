"""A template that does not fit the record at conversion (one built without the model, so
its paths were not checked at start-up) is a MappingError naming the template file and
line: a reject, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.errors import ConfigError, MappingError
from exchange.mapping.fields import record_type
from exchange.mapping.template import Template
from exchange.model import Kind
from tests import canonical_samples as samples

TEMPLATE = """<?xml version="1.0"?>
<x:Doc xmlns:x="urn:test" xmlns:m="urn:mra-exchange:mapping:1">
  <x:Number m:value="cert_no"/>
  <x:Missing m:value="no_such_field"/>
</x:Doc>
"""


def test_a_path_the_record_lacks_is_a_mapping_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "doc.xml"
    path.write_text(TEMPLATE, encoding="utf-8")
    template = Template(path, {}, "xx")
    with pytest.raises(MappingError) as caught:
        template.render(samples.certificate())
    assert f"{path}:4" in str(caught.value)
    assert "no_such_field" in str(caught.value)


def test_the_same_template_with_its_model_is_refused_when_built(tmp_path: Path) -> None:
    path = tmp_path / "doc.xml"
    path.write_text(TEMPLATE, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}:4: m:value='no_such_field'"):
        Template(path, {}, "xx", record_type(Kind.CCC))


@pytest.mark.parametrize(
    ("attribute", "message"),
    [('m:optional="yes"', "must be one of true, false"), ('m:direction="in"', "must be one of out, both")],
)
def test_a_directive_with_a_value_it_does_not_take_is_refused(
    tmp_path: Path, attribute: str, message: str
) -> None:
    path = tmp_path / "doc.xml"
    path.write_text(TEMPLATE.replace('m:value="cert_no"', f'm:value="cert_no" {attribute}'), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}:3: .*{message}"):
        Template(path, {}, "xx", record_type(Kind.CCC))
