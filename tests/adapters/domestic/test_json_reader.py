"""JSON and JSON Lines files: streaming, locations, and hostile input."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from adapters.domestic import EncodingError, UnreadableInput, source
from adapters.domestic.limits import MAX_DEPTH, MAX_RECORD_BYTES
from exchange.errors import ExchangeError, RecordError, Reject
from exchange.intake import Accepted, IntakeItem
from exchange.model import Kind
from tests.adapters.domestic.synth import SAMPLES, ccc, numbered


def read(path: Path, **kw: object) -> list[IntakeItem]:
    return list(source.read(path, **kw))  # type: ignore[arg-type]


def rejects(items: list[IntakeItem]) -> list[Reject]:
    return [i for i in items if isinstance(i, Reject)]


def test_jsonl_mixed_kinds_detected_per_record(tmp_path: Path) -> None:
    glp = (SAMPLES / "glp.json").read_text(encoding="utf-8")
    pt = (SAMPLES / "pt-round.json").read_text(encoding="utf-8")
    lines = [json.dumps(ccc()), json.dumps(json.loads(glp)), json.dumps(json.loads(pt))]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    kinds = [i.record.kind for i in read(path) if isinstance(i, Accepted)]
    assert kinds == [Kind.CCC, Kind.GLP, Kind.PT]


def test_jsonl_blank_lines_crlf_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    body = "\r\n".join([json.dumps(ccc()), "", "  ", json.dumps(ccc(certNo="bad"))]) + "\r\n"
    path.write_bytes(codecs.BOM_UTF8 + body.encode())
    items = read(path)
    assert isinstance(items[0], Accepted)
    assert [r.location for r in rejects(items)] == ["line 4"]


def test_jsonl_undetectable_and_non_object_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"name": "x"}\n[1, 2]\n{"certNo": \n', encoding="utf-8")
    found = [(r.location, r.reason) for r in rejects(read(path))]
    assert found[0][0] == "line 1"
    assert "cannot tell the kind" in found[0][1]
    assert found[1] == ("line 2", "a record must be a JSON object, got an array")
    assert found[2][0] == "line 3"
    assert found[2][1].startswith("not valid JSON")


def test_deeply_nested_line_is_a_reject(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    deep = '{"certNo": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path.write_text(deep + "\n" + json.dumps(ccc()) + "\n", encoding="utf-8")
    items = read(path)
    [reject] = rejects(items)
    assert reject.location == "line 1"
    assert f"more than {MAX_DEPTH} levels" in reject.reason
    assert isinstance(items[1], Accepted)


def test_brackets_inside_strings_do_not_count(tmp_path: Path) -> None:
    record = ccc()
    record["applicant"]["name"] = "[[[[" * 30 + '\\"{{{{' * 30
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    assert isinstance(read(path)[0], Accepted)


def test_over_long_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps(ccc()) + "\n")
        f.write('{"certNo": "' + "9" * (MAX_RECORD_BYTES + 10) + '"}\n')
        f.write(json.dumps(ccc()) + "\n")
    items = read(path)
    assert [type(i) for i in items] == [Accepted, Reject, Accepted]
    reject = items[1]
    assert isinstance(reject, Reject)
    assert reject.location == "line 2"
    assert "longer than 4 MiB" in reject.reason
    assert items[2].location == "line 3"


def test_empty_jsonl_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert read(path) == []


def test_empty_json_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b"  \n")
    with pytest.raises(UnreadableInput, match="empty file"):
        read(path)


def test_json_array_streams_with_index_locations(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    records = [numbered(i) for i in range(3000)]
    records[1234]["issueDate"] = "2019-02-30"
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    items = read(path)
    assert len(items) == 3000
    [reject] = rejects(items)
    assert (reject.location, reject.field) == ("index 1234", "issueDate")
    assert items[2999].location == "index 2999"


def test_json_array_with_odd_elements(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    deep = "[" * 50 + "]" * 50
    path.write_text(
        f'[ 1, "x", null, {deep}, {{"certNo": "2"}}, {{"a": tru}}, {json.dumps(ccc())} ]',
        encoding="utf-8",
    )
    items = read(path)
    assert [i.location for i in items] == [f"index {n}" for n in range(7)]
    reasons = [i.reason for i in rejects(items)]
    assert reasons[0] == "a record must be a JSON object, got a number"
    assert reasons[1] == "a record must be a JSON object, got a string"
    assert reasons[2] == "a record must be a JSON object, got null"
    assert f"more than {MAX_DEPTH} levels" in reasons[3]
    assert "has 1 digits" in reasons[4]
    assert reasons[5].startswith("not valid JSON")
    assert isinstance(items[6], Accepted)


def test_empty_json_array(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    path.write_text("[ ]", encoding="utf-8")
    assert read(path) == []


def test_truncated_json_array(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    path.write_text("[" + json.dumps(ccc()) + ", " + json.dumps(ccc())[:100], encoding="utf-8")
    items = read(path)
    assert isinstance(items[0], Accepted)
    assert isinstance(items[1], Reject)
    assert items[1].location == "index 1"
    assert "ends inside this record" in items[1].reason


def test_json_array_missing_comma_stops(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    path.write_text("[" + json.dumps(ccc()) + " " + json.dumps(ccc()) + "]", encoding="utf-8")
    items = read(path)
    assert isinstance(items[0], Accepted)
    assert isinstance(items[1], Reject)
    assert items[1].location == "index 1"
    assert "expected , or ] after index 0" in items[1].reason
    assert len(items) == 2


def test_json_array_deep_hostile_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 1_000_000, encoding="utf-8")
    [reject] = read(path)
    assert isinstance(reject, Reject)
    assert reject.location == "index 0"


def test_single_json_object_invalid(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"certNo": "2019010907123456",\n "x": }', encoding="utf-8")
    [reject] = read(path)
    assert isinstance(reject, Reject)
    assert reject.location is None
    assert "line 2" in reject.reason


def test_single_json_too_deep(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"facility": ' + "[" * 5000 + "]" * 5000 + "}", encoding="utf-8")
    [reject] = read(path)
    assert isinstance(reject, Reject)
    assert "levels deep" in reject.reason


def test_latin1_garbage_is_an_encoding_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(json.dumps(ccc()).encode() + b"\n" + '{"certNo": "café"}'.encode("latin-1"))
    path.write_bytes(path.read_bytes() + b"\n" + json.dumps(ccc()).encode() + b"\n")
    first, bad, third = source.read(path)
    assert isinstance(first, Accepted) and isinstance(third, Accepted)  # the rest is read
    assert isinstance(bad, Reject) and bad.location == "line 2"
    assert "line 2 cannot be decoded as utf-8" in bad.reason


def test_gb18030_json_with_forced_encoding(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(json.dumps(ccc(), ensure_ascii=False).encode("gb18030"))
    with pytest.raises(EncodingError):
        read(path)
    [item] = read(path, encoding="GB18030")
    assert isinstance(item, Accepted)


@pytest.mark.parametrize("name", ["missing.jsonl", "missing.json", "missing.csv"])
def test_missing_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnreadableInput, match="no such file"):
        source.read(tmp_path / name)  # raised at once, before iterating


def test_unsupported_suffix_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text("<x/>")
    with pytest.raises(UnreadableInput, match="unsupported file type"):
        source.read(path)
    path = tmp_path / "x.jsonl"
    path.write_text("")
    with pytest.raises(ExchangeError, match="unknown encoding"):
        source.read(path, encoding="no-such-codec")
    with pytest.raises(ExchangeError, match="not ASCII-compatible"):
        source.read(path, encoding="utf-16")


def test_jsonl_lines_read_as_bytes_match_the_text_path(tmp_path: Path) -> None:
    """UTF-8 lines are parsed straight from bytes; whatever that path cannot take
    (blank-looking Unicode lines, a stray BOM, invalid JSON) goes the decoded way: the
    same records and the same reasons as decoding every line first."""
    from adapters.domestic.json_reader import _convert

    lines = [
        json.dumps(ccc(), ensure_ascii=False),
        json.dumps(ccc(certNo="２０１９０１０９０７１２３４５６"), ensure_ascii=True),
        "\u3000",  # blank once decoded: skipped
        "\ufeff" + json.dumps(ccc()),  # a BOM that is not the file's first bytes
        '{"certNo": "2019010907123456", "certStatus": }',
        json.dumps(ccc(certNo="bad")),
        "[1]",
    ]
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def seen(result: object) -> object:
        if isinstance(result, RecordError):
            return (result.field, result.record_id, result.reason)
        return result.model_dump()  # type: ignore[attr-defined]

    numbered_lines = [(f"line {no}", line) for no, line in enumerate(lines, 1) if line.strip()]
    expected = [(where, seen(_convert(line, None))) for where, line in numbered_lines]
    got = [
        (i.location, seen(i.record) if isinstance(i, Accepted) else (i.field, i.record_id, i.reason))
        for i in read(path)
    ]
    assert got == expected
    assert [g[0] for g in got] == ["line 1", "line 2", "line 4", "line 5", "line 6", "line 7"]


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_key_given_twice_is_a_reject_naming_the_key(tmp_path: Path, suffix: str) -> None:
    """Issue 13, finding 6: certStatus 撤销 then 有效 converted to VALID without a word."""
    text = json.dumps(ccc(), ensure_ascii=False)
    twice = text[:-1] + ', "certStatus": "有效"}'
    twice = twice.replace('"certStatus": "有效"', '"certStatus": "撤销"', 1)
    path = tmp_path / f"x{suffix}"
    body = twice if suffix == ".jsonl" else f"[{twice}]"
    path.write_text(body + "\n", encoding="utf-8")
    (item,) = source.read(path)
    assert isinstance(item, Reject) and item.field == "certStatus"
    assert "'certStatus' appears twice" in item.reason


def test_a_nested_key_given_twice_is_refused_but_the_same_key_in_two_objects_is_not(tmp_path: Path) -> None:
    record = ccc()
    nested = json.dumps(record, ensure_ascii=False).replace('"certBody": {', '"certBody": {"code": "X", ', 1)
    record["certBody"] = {**record["certBody"], "extra": {"code": "Y"}}  # "code" in two objects
    fine = json.dumps(record, ensure_ascii=False)
    assert fine.count('"code"') >= 2
    path = tmp_path / "x.jsonl"
    path.write_text(nested + "\n" + fine + "\n", encoding="utf-8")
    bad, good = source.read(path)
    assert isinstance(bad, Reject) and bad.field == "code"
    assert not (isinstance(good, Reject) and "twice" in good.reason), good


def test_strings_that_look_like_keys_are_not_counted_as_keys(tmp_path: Path) -> None:
    record = ccc()
    record["remarks"] = 'a "quoted": value, {"certStatus": "x"}'
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    (item,) = source.read(path)
    assert not (isinstance(item, Reject) and "twice" in item.reason), item
