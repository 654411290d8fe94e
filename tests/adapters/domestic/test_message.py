"""Records from the message bus: one JSON body, errors raised naming the field."""

from __future__ import annotations

import codecs
import json

import pytest

from adapters.domestic import source
from adapters.domestic.limits import MAX_RECORD_BYTES
from exchange.errors import RecordError
from exchange.intake import Source
from exchange.model import Kind, ProductCertificate
from tests.adapters.domestic.synth import ccc


def test_source_satisfies_the_protocol() -> None:
    checked: Source = source
    assert checked is source


def test_parse_message() -> None:
    body = codecs.BOM_UTF8 + json.dumps(ccc(), ensure_ascii=False).encode()
    record = source.parse_message(body, kind=Kind.CCC)
    assert isinstance(record, ProductCertificate)
    assert source.parse_message(body, kind="ccc").record_id == record.record_id  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"certNo": ', "not valid JSON"),
        (b"[" * 10_000, "levels deep"),
        (b"[1]", "must be a JSON object"),
        (b"x" * (MAX_RECORD_BYTES + 1), "larger than"),
    ],
)
def test_bad_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        source.parse_message(body)


def test_field_error_names_record_and_field() -> None:
    body = json.dumps(ccc(certStatus="未知")).encode()
    with pytest.raises(RecordError) as err:
        source.parse_message(body)
    assert (err.value.record_id, err.value.field) == ("2019010907123456", "certStatus")
    assert "record 2019010907123456 field certStatus" in str(err.value)
