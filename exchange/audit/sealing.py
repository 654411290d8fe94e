"""Sealed checkpoints: the service signs the chain head itself, and keeps it apart.

The hash chain alone does not protect itself: whoever holds the database file can cut
its tail, empty it, or change an entry and re-hash every entry after it, and the chain
still verifies. So with a signing key pair configured (EXCHANGE_SIGNING_KEY / _CERT, the
service's own), the head is signed with the private key (`Signer.sign_bytes`) at the end of
every `exchange convert`, and in `exchange run` at least once a minute and every 10,000
entries, into `<dir>/<store id>.json`, where:

- dir: $EXCHANGE_AUDIT_CHECKPOINT_DIR, else $XDG_STATE_HOME/mra-exchange/audit-checkpoints,
  else ~/.local/state/mra-exchange/audit-checkpoints: never beside the store (in production a
  directory another host owns, mounted write-only, is best);
- store id: the first 16 hex digits of SHA-256 over the store's description (its URL).

A plain `exchange audit verify` then checks the chain against the newest sealed checkpoint
with the certificate only (no secret needed to verify), and fails when the chain was
truncated, emptied or rewritten up to that head, when the seal does not verify, and when a
seal is expected (a certificate is configured) but missing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from exchange.audit.chain import canonical_json, parse_time
from exchange.audit.checkpoint import Checkpoint, take_checkpoint
from exchange.audit.entry import is_sha256_hex
from exchange.audit.errors import CheckpointError
from exchange.audit.store import AuditStore
from exchange.signing import ENV_CERT, ENV_KEY, SignatureInvalid, Signer, verify_bytes

ENV_DIR = "EXCHANGE_AUDIT_CHECKPOINT_DIR"
FORMAT = "exchange-audit-seal/1"
EVERY_S = 60.0
EVERY_ENTRIES = 10_000


def checkpoint_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_DIR):
        return Path(env[ENV_DIR])
    state = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else Path.home() / ".local" / "state"
    return state / "mra-exchange" / "audit-checkpoints"


def seal_path(store: AuditStore, folder: Path | None = None) -> Path:
    store_id = hashlib.sha256(store.describe().encode()).hexdigest()[:16]
    return (folder or checkpoint_dir()) / f"{store_id}.json"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def seal(store: AuditStore, signer: Signer, folder: Path | None = None) -> Path:
    """Sign the store's current head (after flushing) and write it as the newest seal."""
    cp = take_checkpoint(store)
    payload = {**cp.payload(), "format": FORMAT}
    signature = signer.sign_bytes(canonical_json(payload).encode())
    doc = {"checkpoint": payload, "signature": base64.b64encode(signature).decode("ascii")}
    path = seal_path(store, folder)
    _write_atomically(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def read_seal(path: Path, cert_pem: bytes) -> Checkpoint:
    """The sealed head, once its signature verifies with `cert_pem`; CheckpointError if not."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        payload = doc["checkpoint"]
        signature = base64.b64decode(doc["signature"], validate=True)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"sealed checkpoint {path} cannot be read: {e}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a sealed audit checkpoint ({FORMAT})")
    try:
        verify_bytes(cert_pem, canonical_json(payload).encode(), signature)
    except SignatureInvalid as e:
        why = f"{e} (altered, or sealed with another key)"
        raise CheckpointError(f"sealed checkpoint {path}: {why}") from None
    try:
        cp = Checkpoint(int(payload["seq"]), str(payload["hash"]), parse_time(str(payload["time"])),
                        str(payload["store"]))  # fmt: skip
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"sealed checkpoint {path} is incomplete: {e}") from None
    if cp.seq < 0 or not is_sha256_hex(cp.hash):
        raise CheckpointError(f"sealed checkpoint {path} holds no valid chain head")
    return cp


def signer_from_env(env: Mapping[str, str] | None = None) -> Signer | None:
    """The service's key pair when one is configured, else None (nothing is sealed)."""
    env = dict(os.environ if env is None else env)
    if not env.get(ENV_KEY) or not env.get(ENV_CERT):
        return None
    return Signer.from_env(env)


def seal_if_configured(store: AuditStore) -> Path | None:
    signer = signer_from_env()
    return None if signer is None else seal(store, signer)


class PeriodicSealer:
    """Seals a long-running store at least every `every_s` seconds in which it was written
    to, and after every `every_entries` entries (counted as they are flushed)."""

    def __init__(
        self,
        store: AuditStore,
        signer: Signer,
        folder: Path | None = None,
        *,
        every_s: float = EVERY_S,
        every_entries: int = EVERY_ENTRIES,
    ):
        self.store, self.signer, self.folder = store, signer, folder
        self.every_s, self.every_entries = every_s, every_entries
        self.sealed = 0
        self._unsealed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> PeriodicSealer:
        self.store.after_flush.append(self._written)
        self._thread.start()
        return self

    def _written(self, entries: int) -> None:
        with self._lock:
            self._unsealed += entries
            due = self._unsealed >= self.every_entries
        if due:
            self.seal_now()

    def seal_now(self) -> None:
        with self._lock:
            if self._unsealed == 0 and self.sealed:
                return
            self._unsealed = 0
        seal(self.store, self.signer, self.folder)
        self.sealed += 1

    def _run(self) -> None:
        next_at = time.monotonic() + self.every_s
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.every_s
            try:
                self.seal_now()
            except Exception:  # a seal that cannot be written now is tried again next time
                continue

    def stop(self) -> None:
        """Stop the timer and seal what was written since the last seal."""
        self._stop.set()
        self._thread.join(10)
        self.store.flush()
        if self._written in self.store.after_flush:
            self.store.after_flush.remove(self._written)
        self.seal_now()
