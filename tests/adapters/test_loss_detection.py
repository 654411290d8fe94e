"""The behaviour suite's loss check can fail: a template that leaves out an optional field
the partner's XSD allows is caught, unless the manifest declares it in `not_carried`."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.errors import ConfigError
from exchange.formats.xml import XmlPartnerFormat
from tests.adapters.full_samples import full_certificate, lost_fields
from tests.adapters.partner_kit import make_partner

HS_CODE = '<nz:HsCode m:value="hs_code" m:optional="true"/>'


def test_a_dropped_optional_field_is_reported(tmp_path: Path) -> None:
    kit = make_partner(tmp_path, "sg", with_shipped=False)
    kit.edit("ccc.xml", HS_CODE, "")
    fmt = XmlPartnerFormat.from_manifest("sg", kit.file("format.toml"))
    record = full_certificate()
    assert lost_fields(fmt, record) == {"product.hs_code": (record.product.hs_code, None)}


def test_a_field_declared_not_carried_is_not_a_loss(tmp_path: Path) -> None:
    kit = make_partner(tmp_path, "sg", with_shipped=False)
    kit.edit("ccc.xml", HS_CODE, "")
    kit.edit("format.toml", 'template = "ccc.xml"', 'template = "ccc.xml"\nnot_carried = ["product.hs_code"]')
    fmt = XmlPartnerFormat.from_manifest("sg", kit.file("format.toml"))
    assert lost_fields(fmt, full_certificate()) == {}


def test_a_not_carried_path_that_is_no_field_is_refused(tmp_path: Path) -> None:
    kit = make_partner(tmp_path, "sg", with_shipped=False)
    kit.edit("format.toml", 'template = "ccc.xml"', 'template = "ccc.xml"\nnot_carried = ["product.hscode"]')
    refused = r"format\.toml: families\.ccc\.not_carried: .*did you mean 'hs_code'"
    with pytest.raises(ConfigError, match=refused):
        XmlPartnerFormat.from_manifest("sg", kit.file("format.toml"))
