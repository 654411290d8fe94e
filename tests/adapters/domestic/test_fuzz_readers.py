"""Fuzzing the domestic readers (issue 13): whatever the bytes, every record is converted or
rejected with a reason, and nothing but a file-level refusal (UnreadableInput, with its
reason) ever leaves the reader. Bounded: a few hundred examples, well under a minute."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.domestic import UnreadableInput, source
from exchange.errors import Reject
from exchange.intake import Accepted
from tests.adapters.domestic.synth import SAMPLES

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAMPLE_LINES = (SAMPLES / "ccc.jsonl").read_bytes().splitlines()
CSV = (SAMPLES / "ccc-export-gb18030.csv").read_bytes()


def _read_all(data: bytes, suffix: str) -> list[object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            items = list(source.read(path))
        except UnreadableInput as exc:
            assert str(exc).strip()
            return []
    for item in items:
        assert isinstance(item, (Accepted, Reject)), item
        if isinstance(item, Reject):
            assert item.reason.strip(), item
    return items


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for pos, cut, insert in edits:
        at = pos % (len(out) + 1)
        out[at : at + cut] = insert
    return bytes(out)


EDITS = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 8), st.binary(max_size=8)), min_size=1, max_size=6
)


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([".jsonl", ".json", ".csv"]))
def test_random_bytes(data: bytes, suffix: str) -> None:
    _read_all(data, suffix)


@FUZZ
@given(EDITS)
def test_mutated_json_lines(edits: list[tuple[int, int, bytes]]) -> None:
    data = b"\n".join(SAMPLE_LINES[:3]) + b"\n"
    items = _read_all(_mutate(data, edits), ".jsonl")
    assert len(items) <= 3 + sum(e[2].count(b"\n") for e in edits) + 1


@FUZZ
@given(EDITS)
def test_mutated_csv(edits: list[tuple[int, int, bytes]]) -> None:
    _read_all(_mutate(CSV, edits), ".csv")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(json.loads(SAMPLE_LINES[0]))), JSON_VALUES, max_size=5))
def test_records_with_fields_replaced(replaced: dict[str, object]) -> None:
    record = {**json.loads(SAMPLE_LINES[0]), **replaced}
    (item,) = _read_all(json.dumps(record, ensure_ascii=False).encode() + b"\n", ".jsonl")
    if not replaced:
        assert isinstance(item, Accepted)
