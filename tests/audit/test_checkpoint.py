"""Signed checkpoints of the chain head: written apart, read back only if authentic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange.audit import (
    AuditConfigError,
    CheckpointError,
    load_key,
    open_store,
    read_checkpoint,
    take_checkpoint,
    write_checkpoint,
)
from tests.audit.helpers import fill

KEY = b"k" * 32


@pytest.fixture
def checkpoint_file(sqlite_url: str, tmp_path: Path) -> Path:
    fill(sqlite_url, 4)
    path = tmp_path / "elsewhere" / "audit.checkpoint"
    with open_store(sqlite_url) as store:
        write_checkpoint(path, take_checkpoint(store), KEY)
    return path


def test_round_trip(checkpoint_file: Path, sqlite_url: str) -> None:
    cp = read_checkpoint(checkpoint_file, KEY)
    with open_store(sqlite_url) as store:
        assert (cp.seq, cp.hash) == store.head()
        assert cp.store == store.describe()
        assert store.verify(cp).ok


def test_empty_chain_checkpoint(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'a.db'}") as store:
        cp = take_checkpoint(store)
        assert cp.seq == 0
        assert store.verify(cp).ok


@pytest.mark.parametrize(("field", "value"), [("seq", 3), ("hash", "0" * 64), ("time", "x")])
def test_altered_checkpoint_is_refused(checkpoint_file: Path, field: str, value: object) -> None:
    doc = json.loads(checkpoint_file.read_text())
    doc[field] = value
    checkpoint_file.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="signature"):
        read_checkpoint(checkpoint_file, KEY)


def test_other_key_is_refused(checkpoint_file: Path) -> None:
    with pytest.raises(CheckpointError, match="signature"):
        read_checkpoint(checkpoint_file, b"x" * 32)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("{}")
    (tmp_path / "b").write_text("not json")
    for name in ("a", "b"):
        with pytest.raises(CheckpointError):
            read_checkpoint(tmp_path / name, KEY)
    with pytest.raises(AuditConfigError):
        read_checkpoint(tmp_path / "missing", KEY)


def test_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXCHANGE_AUDIT_KEY", raising=False)
    monkeypatch.delenv("EXCHANGE_AUDIT_KEY_FILE", raising=False)
    with pytest.raises(AuditConfigError, match="no checkpoint key"):
        load_key()
    key_file = tmp_path / "key"
    key_file.write_bytes(b"file-key-0123456789\n")
    monkeypatch.setenv("EXCHANGE_AUDIT_KEY_FILE", str(key_file))
    assert load_key() == b"file-key-0123456789"
    monkeypatch.setenv("EXCHANGE_AUDIT_KEY", "env-key-0123456789")
    assert load_key() == b"env-key-0123456789"
    assert load_key(key_file) == b"file-key-0123456789"  # --key-file wins
    monkeypatch.setenv("EXCHANGE_AUDIT_KEY", "short")
    with pytest.raises(AuditConfigError, match="shorter"):
        load_key()
    with pytest.raises(AuditConfigError, match="cannot read"):
        load_key(tmp_path / "nope")
