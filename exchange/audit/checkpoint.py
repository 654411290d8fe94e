"""Checkpoints of the chain head, signed and kept apart from the store.

A valid chain cut short at the tail is still a valid chain: only a record of an
earlier head, out of the store's reach, shows entries were lost. The checkpoint is a
small JSON file with an HMAC-SHA256 over its canonical JSON; the key comes from
$EXCHANGE_AUDIT_KEY (the key itself) or a key file ($EXCHANGE_AUDIT_KEY_FILE or
`--key-file`). Whoever can rewrite the store must not hold the key.
"""

from __future__ import annotations

import hmac
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from exchange.audit.chain import GENESIS, canonical_json, parse_time
from exchange.audit.entry import format_time, is_sha256_hex
from exchange.audit.errors import AuditConfigError, CheckpointError
from exchange.audit.store import AuditStore

ENV_KEY = "EXCHANGE_AUDIT_KEY"
ENV_KEY_FILE = "EXCHANGE_AUDIT_KEY_FILE"
FORMAT = "exchange-audit-checkpoint/1"
MIN_KEY_BYTES = 16


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    time: datetime
    """When the checkpoint was taken (UTC)."""
    store: str
    """Where it was taken from; informational, the store may move."""

    def payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "time": format_time(self.time),
            "store": self.store,
        }


def load_key(key_file: Path | None = None) -> bytes:
    """The HMAC key: `key_file`, else $EXCHANGE_AUDIT_KEY, else $EXCHANGE_AUDIT_KEY_FILE."""
    if key_file is None and os.environ.get(ENV_KEY):
        key = os.environ[ENV_KEY].encode()
        source = f"${ENV_KEY}"
    else:
        path = key_file or (Path(os.environ[ENV_KEY_FILE]) if os.environ.get(ENV_KEY_FILE) else None)
        if path is None:
            raise AuditConfigError(
                f"no checkpoint key: set ${ENV_KEY} or ${ENV_KEY_FILE}, or pass --key-file"
            )
        try:
            key = path.read_bytes().strip()
        except OSError as e:
            raise AuditConfigError(f"cannot read checkpoint key file {path}: {e.strerror}") from e
        source = str(path)
    if len(key) < MIN_KEY_BYTES:
        raise AuditConfigError(f"checkpoint key from {source} is shorter than {MIN_KEY_BYTES} bytes")
    return key


def _mac(key: bytes, payload: dict[str, Any]) -> str:
    return hmac.new(key, canonical_json(payload).encode(), sha256).hexdigest()


def take_checkpoint(store: AuditStore) -> Checkpoint:
    """The store's current head (after flushing its buffer)."""
    seq, head_hash = store.head() or (0, GENESIS)
    return Checkpoint(seq, head_hash, datetime.now(UTC), store.describe())


def write_checkpoint(path: Path, checkpoint: Checkpoint, key: bytes) -> None:
    """Write atomically (temp file, fsync, rename): a crash leaves the old one or the new."""
    doc = checkpoint.payload()
    doc["hmac_sha256"] = _mac(key, checkpoint.payload())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: Path, key: bytes) -> Checkpoint:
    """Read and authenticate a checkpoint; CheckpointError if it cannot be trusted."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise AuditConfigError(f"cannot read checkpoint {path}: {e.strerror}") from e
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path} is not JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an audit checkpoint ({FORMAT})")
    given = doc.pop("hmac_sha256", None)
    if not isinstance(given, str) or not hmac.compare_digest(given, _mac(key, doc)):
        raise CheckpointError(f"checkpoint {path}: signature does not verify (altered, or another key)")
    try:
        cp = Checkpoint(
            seq=int(doc["seq"]),
            hash=str(doc["hash"]),
            time=parse_time(str(doc["time"])),
            store=str(doc["store"]),
        )
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is incomplete: {e}") from e
    if cp.seq < 0 or not is_sha256_hex(cp.hash):
        raise CheckpointError(f"checkpoint {path} holds no valid chain head")
    return cp
