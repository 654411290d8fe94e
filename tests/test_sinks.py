"""Issue 13, finding 8: a symlink planted at out/eu/<doc>.xml.tmp was followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exchange.errors import Reject
from exchange.model import Kind
from exchange.pipeline import Converted
from exchange.sinks import FileSink, OutputError, RejectLog


def _doc() -> Converted:
    return Converted(partner="eu", kind=Kind.CCC, record_id="2019010907123456", document=b"<doc/>",
                     suffix=".xml", media_type="application/xml", sha256="0" * 64)  # fmt: skip


def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    sink = FileSink(tmp_path / "out")
    (tmp_path / "out" / "eu").mkdir(parents=True)
    target = sink.path_for(_doc())
    os.symlink(victim, target.with_name(target.name + ".tmp"))
    assert sink.write(_doc()) == target
    assert victim.read_text() == "precious" and target.read_bytes() == b"<doc/>"
    assert not target.is_symlink()


def test_a_link_at_the_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    sink = FileSink(tmp_path / "out")
    (tmp_path / "out" / "eu").mkdir(parents=True)
    os.symlink(victim, sink.path_for(_doc()))
    sink.write(_doc())
    assert victim.read_text() == "precious"
    assert not sink.path_for(_doc()).is_symlink()


def test_a_partner_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "eu")
    with pytest.raises(OutputError, match="symbolic link"):
        FileSink(tmp_path / "out").write(_doc())
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_rejects_log_that_is_a_link_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "rejects.jsonl")
    with pytest.raises(OutputError, match="symbolic links"):
        RejectLog(tmp_path / "rejects.jsonl")
    assert victim.read_text() == "precious"
    log = RejectLog(tmp_path / "fresh.jsonl")
    log.write(Reject("s", "line 1", None, None, "why"))
    log.close()
