"""Issue 13, finding 8: the text rule for line breaks is one rule, held by the canonical
model and by every partner's schema alike.

Names, identifiers and codes are single-line; addresses and free-text reasons may hold
line breaks. For every string field of a valid domestic record of each family, a line
break, a tab, or a leading U+3000 either makes intake reject the record naming that
field, or every partner receiving the family gets a document that xmllint and xmlschema
(or, for bri, jsonschema) both accept. Never "BUG: ... fails its schema".
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lxml import etree
from pydantic import TypeAdapter, ValidationError

from adapters.domestic.source import DomesticSource
from exchange.config import load_config
from exchange.errors import RecordError
from exchange.formats.jsonld import ISSUED_FIELDS
from exchange.intake import Accepted
from exchange.model.common import MultiLineStr, NonEmptyStr
from exchange.pipeline import Converter
from exchange.registry import partner_format
from exchange.xml.safe import parse_bytes
from tests.interop.tools import ROOT, SCHEMAS, xmllint_valid, xmlschema_valid

PARTNERS = tuple(sorted(load_config(ROOT / "adapters" / "agreements.toml").partners))
"""Every partner the shipped agreements name: one added there is covered here too."""
SINGLE_LINE = ("certBody.name", "applicant.name", "factory.name", "product.name", "facility.name")
MULTI_LINE = ("applicant.address", "factory.address", "history[0].reason", "facility.address")


def _first_record(name: str) -> dict[str, Any]:
    text = (ROOT / "samples" / name).read_text(encoding="utf-8")
    value = json.loads(text.splitlines()[0] if name.endswith(".jsonl") else text)
    assert isinstance(value, dict)
    return value


RECORDS = {
    "ccc": _first_record("ccc.jsonl"),
    "glp": _first_record("glp.json"),
    "pt": _first_record("pt-round.json"),
}

MUTATIONS: dict[str, Callable[[str], str]] = {
    "line break": lambda v: v[:1] + "\n" + v[1:],
    "CR LF": lambda v: v[:1] + "\r\n" + v[1:],
    "tab": lambda v: v[:1] + "\t" + v[1:],
    "leading U+3000": lambda v: "\u3000" + v,
}


def string_fields(data: Any, path: str = "") -> Iterator[str]:
    """Dotted paths (`results[3].lab`, as intake names fields) of every string leaf."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from string_fields(value, f"{path}.{key}" if path else key)
    elif isinstance(data, list):
        for n, value in enumerate(data):
            yield from string_fields(value, f"{path}[{n}]")
    elif isinstance(data, str):
        yield path


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.replace("[", ".[").split("."):
        steps.append(int(part[1:-1]) if part.startswith("[") else part)
    return steps


def mutated(data: dict[str, Any], path: str, change: Callable[[str], str]) -> dict[str, Any]:
    copy = json.loads(json.dumps(data))
    *parents, last = _steps(path)
    node = copy
    for step in parents:
        node = node[step]
    node[last] = change(node[last])
    return copy


@pytest.fixture(scope="module")
def converter() -> Converter:
    return Converter(load_config(ROOT / "adapters" / "agreements.toml"), list(PARTNERS))


def _xml_schema(data: bytes) -> Path:
    root = parse_bytes(data)
    partner, family = str(etree.QName(root).namespace).split(":")[2:4]
    return SCHEMAS / partner / f"{family}-{root.get('version')}.xsd"


def test_every_string_field_either_rejected_naming_it_or_valid_for_every_partner(
    converter: Converter, tmp_path: Path
) -> None:
    source = DomesticSource()
    rejected: dict[str, set[str]] = {}
    accepted: dict[str, set[str]] = {}
    xml_docs: dict[Path, list[Path]] = {}
    json_docs: list[tuple[str, str, bytes]] = []
    cases = 0
    for family, record in RECORDS.items():
        for path in string_fields(record):
            for label, change in MUTATIONS.items():
                cases += 1
                case = f"{family} {path} with a {label}"
                body = json.dumps(mutated(record, path, change), ensure_ascii=False).encode()
                try:
                    canonical = source.parse_message(body)
                except RecordError as exc:
                    named = exc.field == path or path in str(exc)
                    assert named, f"{case}: the reject does not name the field: {exc.field!r} {exc}"
                    rejected.setdefault(label, set()).add(f"{family}:{path}")
                    continue
                result = converter.convert(Accepted(canonical, "test"))
                assert not result.rejects, f"{case}: {[r.reason for r in result.rejects]}"
                reached = {c.partner for c in result.converted} | {s.partner for s in result.skipped}
                assert reached == set(PARTNERS), case
                accepted.setdefault(label, set()).add(f"{family}:{path}")
                for n, doc in enumerate(result.converted):
                    if doc.suffix == ".xml":
                        file = tmp_path / f"{cases}-{n}-{doc.partner}.xml"
                        file.write_bytes(doc.document)
                        xml_docs.setdefault(_xml_schema(doc.document), []).append(file)
                    else:
                        json_docs.append((case, doc.kind.value, doc.document))
    for schema, files in sorted(xml_docs.items()):
        lint = xmllint_valid(schema, files)
        library = xmlschema_valid(schema, files)
        for file in files:
            assert lint[file], f"xmllint refuses {file.name} against {schema}"
            assert library[file] is None, f"xmlschema refuses {file.name}: {library[file]}"
    for case, family, data in json_docs:
        schema = json.loads((SCHEMAS / "bri" / f"{family}-credential-1.1.json").read_text(encoding="utf-8"))
        # converted without a credential key: a draft, whose issuing step adds these fields
        schema["required"] = [name for name in schema["required"] if name not in ISSUED_FIELDS]
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.loads(data)))
        assert not errors, f"{case}: bri credential refused by jsonschema: {errors[0].message}"
    documents = sum(len(f) for f in xml_docs.values()) + len(json_docs)
    print(f"\n{cases} cases: rejected {sum(map(len, rejected.values()))}, accepted "
          f"{sum(map(len, accepted.values()))}, documents validated {documents}")  # fmt: skip
    # The rule itself, not just consistency: single-line fields refuse breaks and tabs,
    # addresses and reasons carry them, a leading ideographic space is trimmed.
    for label in ("line break", "CR LF", "tab"):
        for field in SINGLE_LINE:
            assert any(f.endswith(f":{field}") for f in rejected[label]), (label, field)
        for field in MULTI_LINE:
            assert any(f.endswith(f":{field}") for f in accepted[label]), (label, field)
    for field in SINGLE_LINE + MULTI_LINE:
        assert any(f.endswith(f":{field}") for f in accepted["leading U+3000"]), field
    assert xml_docs and json_docs


@pytest.mark.parametrize(
    ("sample", "field"), [("ccc.jsonl", "applicant.name"), ("glp.json", "facility.name")]
)
def test_a_name_with_a_line_break_is_one_reject_naming_the_field_for_every_partner(
    tmp_path: Path, sample: str, field: str
) -> None:
    """The exact finding: once refused for eu/kr/bri as a BUG, accepted for nz."""
    record = mutated(_first_record(sample), field, MUTATIONS["line break"])
    path = tmp_path / f"in{Path(sample).suffix}"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [sys.executable, "-m", "exchange.cli", "convert", str(path), "--out", str(out)]
    args += [a for p in PARTNERS for a in ("--partner", p)]
    args += ["--audit", f"sqlite:///{tmp_path / 'audit.db'}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rejects) == 1, rejects
    assert rejects[0]["field"] == field and "single-line" in rejects[0]["reason"], rejects[0]
    assert "BUG" not in done.stdout + done.stderr + rejects[0]["reason"]
    written = [p.name for partner in PARTNERS if (out / partner).is_dir() for p in (out / partner).iterdir()]
    assert written == [], written


EDGES = [
    "A B", "深圳 示例", "A\tB", "A\nB", "A\r\nB", "A\u0085B", "A\u2028B", "A\u2029B", "A\u00a0B",
    "A\u3000B", "\u3000A", "A\u3000", "\u00a0A", "A\u00a0", " A", "A ", "\tA", "A\n", "A\u1680", "\u202fA",
]  # fmt: skip
"""Characters where `\\s`, `.` and Unicode whitespace differ between regex dialects."""

# Per family, a single-line and a multi-line value of the first sample record, to find in
# each partner document the elements that carry them.
CARRIERS = {
    "ccc": {"applicant.name": NonEmptyStr, "applicant.address": MultiLineStr},
    "glp": {"facility.name": NonEmptyStr, "facility.address": MultiLineStr},
    "pt": {"provider.name": NonEmptyStr},
}


def _value(data: dict[str, Any], path: str) -> str:
    node: Any = data
    for step in _steps(path):
        node = node[step]
    assert isinstance(node, str)
    return node


def test_xmllint_xmlschema_and_the_canonical_model_agree_on_every_edge_character(
    converter: Converter, tmp_path: Path
) -> None:
    """What a partner may send us too: each XSD (1.0 and 1.1) accepts exactly the text the
    canonical model keeps unchanged, and both validators say the same, character by character."""
    source = DomesticSource()
    expected: dict[Path, bool] = {}
    by_schema: dict[Path, list[Path]] = {}
    for family, fields in CARRIERS.items():
        record = RECORDS[family]
        result = converter.convert(Accepted(source.parse_message(json.dumps(record).encode()), "test"))
        for doc in (d for d in result.converted if d.suffix == ".xml"):
            for path, text_type in fields.items():
                original = _value(record, path)
                keeps = TypeAdapter(text_type)
                for n, edge in enumerate(EDGES):
                    model_keeps = _kept(keeps, edge)
                    for version in ("1.0", "1.1", "1.2"):
                        root = parse_bytes(doc.document)
                        root.set("version", version)
                        if not _xml_schema(etree.tostring(root)).is_file():
                            continue  # a partner with one version of its format (no, jp)
                        carrier = next(e for e in root.iter() if e.text == original)
                        carrier.text = edge
                        schema = _xml_schema(etree.tostring(root))
                        file = tmp_path / f"{doc.partner}-{family}-{path}-{n}-{version}.xml"
                        file.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
                        by_schema.setdefault(schema, []).append(file)
                        expected[file] = model_keeps
    # every version of every XML partner's schema for the families its agreement names
    config = load_config(ROOT / "adapters" / "agreements.toml")
    shipped = {
        xsd
        for p in PARTNERS
        if partner_format(config.partners[p]).suffix == ".xml"
        for family in config.partners[p].families
        for xsd in (SCHEMAS / p).glob(f"{family}-*.xsd")
    }
    assert set(by_schema) == shipped and len(shipped) >= 12, sorted(shipped ^ set(by_schema))
    for schema, files in sorted(by_schema.items()):
        lint = xmllint_valid(schema, files)
        library = xmlschema_valid(schema, files)
        for file in files:
            assert lint[file] == (library[file] is None), (
                f"{file.name}: xmllint {lint[file]}, {library[file]}"
            )
            assert lint[file] == expected[file], f"{file.name}: schema {lint[file]}, model {expected[file]}"
    print(f"\n{len(expected)} documents, {sum(expected.values())} valid: xmllint = xmlschema = model")


def _kept(adapter: TypeAdapter[str], value: str) -> bool:
    """The canonical model takes the value as it is (not refused, not trimmed)."""
    try:
        return adapter.validate_python(value) == value
    except ValidationError:
        return False
