"""docs/mapping.md is the mapping language's contract: its field tables, directives and
code-list domains must be the code's, so the page cannot go stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exchange.checks import known_domains
from exchange.mapping.fields import fields_markdown
from exchange.mapping.template import DIRECTIVES
from exchange.model import Kind

DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"


@pytest.mark.parametrize("kind", list(Kind))
def test_the_field_table_is_the_models(kind: Kind) -> None:
    text = DOC.read_text("utf-8")
    found = re.search(rf"<!-- fields:{kind.value} -->\n(.*?)\n<!-- /fields:{kind.value} -->", text, re.S)
    assert found, f"docs/mapping.md has no table for {kind}"
    assert found.group(1) == fields_markdown(kind), "regenerate with: python -m exchange.mapping.fields"


def test_every_directive_is_documented() -> None:
    text = DOC.read_text("utf-8")
    documented = set(re.findall(r"\| `m:(\w+)=", text))
    assert documented == set(DIRECTIVES)


def test_every_domain_is_documented() -> None:
    text = DOC.read_text("utf-8")
    section = text.split("| domain | the list must map |", 1)[1].split("\n\n", 1)[0]
    first_cells = " ".join(line.split("|")[1] for line in section.splitlines()[2:])
    documented = set(re.findall(r"`([a-z-]+)`", first_cells))
    assert documented == set(known_domains())


def test_the_readme_points_here() -> None:
    readme = (DOC.parents[1] / "README.md").read_text("utf-8")
    section = readme.split("## Adding a partner", 1)[1].split("\n## ", 1)[0]
    assert "docs/mapping.md" in section


def test_the_readme_partner_table_names_every_configured_partner() -> None:
    from exchange.config import load_config

    readme = (DOC.parents[1] / "README.md").read_text("utf-8")
    table = readme.split("| family | kind | domestic export | partners |", 1)[1].split("\n\n", 1)[0]
    for partner, agreement in load_config().partners.items():
        for kind in agreement.families:
            row = next(line for line in table.splitlines() if f"| `{kind.value}` |" in line)
            assert re.search(rf"\b{partner}\b", row.rsplit("|", 2)[1]), (partner, kind.value)
