"""Start-up check: a domestic code without a mapping for a partner receiving its family
is a clear error naming the file, the code and the partner."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from exchange.checks import check_mappings, mapping_problems
from exchange.config import load_config
from exchange.errors import ConfigError
from exchange.resources import mapping_path


def test_the_shipped_mappings_are_complete() -> None:
    assert mapping_problems(load_config()) == []


def test_a_missing_category_is_named_with_file_code_and_partner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mappings = tmp_path / "mappings" / "xx"
    shutil.copytree(mapping_path("eu"), mappings)
    codes = mappings / "codes.toml"
    codes.write_text(codes.read_text("utf-8").replace('"0718" = "LVD"\n', ""), encoding="utf-8")
    (tmp_path / "xx_adapter.py").write_text(
        "from pathlib import Path\n"
        "from exchange.formats.xml import XmlPartnerFormat\n"
        f"format = XmlPartnerFormat.from_manifest('xx', Path({str(mappings / 'format.toml')!r}))\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "agreements.toml"
    config.write_text(
        '[partners.xx]\nname = "Test partner"\nformat = "xx_adapter:format"\nfamilies = ["ccc"]\n',
        encoding="utf-8",
    )
    cfg = load_config(config)
    with pytest.raises(ConfigError) as caught:
        check_mappings(cfg)
    message = str(caught.value)
    assert str(codes) in message
    assert "'0718'" in message and "partner xx" in message and "'legislation'" in message
    sys.modules.pop("xx_adapter", None)


def test_an_agreement_naming_a_missing_adapter_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "agreements.toml"
    config.write_text(
        '[partners.zz]\nname = "Nowhere"\nformat = "adapters.zz:format"\nfamilies = ["ccc"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"cannot import 'adapters\.zz'"):
        check_mappings(load_config(config))
