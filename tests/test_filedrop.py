"""The file transport's drop directory: a document appears whole under its name or not at
all, is never written over, and the same bytes again (a redelivery) are taken as done; an
agreement without a drop directory says so, in health and at start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exchange.config import Agreement, ExchangeConfig
from exchange.errors import ConfigError
from exchange.health import configuration_problem
from exchange.transports.file.delivery import Exists, drop_directory, write_atomically


def agreement(**options: str) -> Agreement:
    return Agreement(
        partner="zz", name="Test", format="adapters.nz:format", families=frozenset({"ccc"}), options=options
    )


def test_written_whole_with_no_temporary_file_left(tmp_path: Path) -> None:
    path, written = write_atomically(tmp_path / "drop", "ccc-1-m1.xml", b"<a/>")
    assert written and path.read_bytes() == b"<a/>"
    assert os.listdir(tmp_path / "drop") == ["ccc-1-m1.xml"]


def test_the_same_bytes_again_are_done_other_bytes_are_refused_and_nothing_is_overwritten(
    tmp_path: Path,
) -> None:
    write_atomically(tmp_path, "d.xml", b"<a/>")
    assert write_atomically(tmp_path, "d.xml", b"<a/>") == (tmp_path / "d.xml", False)
    with pytest.raises(Exists, match="not replaced"):
        write_atomically(tmp_path, "d.xml", b"<b/>")
    assert (tmp_path / "d.xml").read_bytes() == b"<a/>"
    assert sorted(os.listdir(tmp_path)) == ["d.xml"]


def test_a_link_under_the_name_is_not_followed_nor_replaced(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "d.xml").symlink_to(target)
    with pytest.raises(Exists):
        write_atomically(tmp_path / "drop", "d.xml", b"keep")
    assert target.read_bytes() == b"keep"


def test_an_unwritable_directory_is_an_os_error_for_the_retry_schedule(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_bytes(b"")
        with pytest.raises(OSError):
            write_atomically(blocker / "drop", "d.xml", b"<a/>")  # a file where a folder should be
        return
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(OSError):
        write_atomically(tmp_path / "ro", "d.xml", b"<a/>")


def test_the_drop_directory_comes_from_the_agreement_relative_to_its_file(tmp_path: Path) -> None:
    assert drop_directory(agreement(drop_directory="out/zz"), tmp_path) == tmp_path / "out" / "zz"
    assert drop_directory(agreement(drop_directory="/srv/zz"), tmp_path) == Path("/srv/zz")
    with pytest.raises(ConfigError, match=r"no drop_directory in partners\.zz\.options"):
        drop_directory(agreement())
    config = ExchangeConfig(partners={"zz": agreement()})
    problem = configuration_problem(config, "zz")
    assert problem is not None and "drop_directory" in problem and "mra.zz.work" in problem
    configured = ExchangeConfig(partners={"zz": agreement(drop_directory="out")})
    assert configuration_problem(configured, "zz") is None
