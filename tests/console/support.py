"""A console over real stores (SQLite audit trail and archive) with a fixed broker status,
and the accounts the tests log in with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exchange.archive import Archived, DocumentArchive, Kind
from exchange.audit import AuditEntry, AuditEvent, AuditStore, open_store
from exchange.config import ExchangeConfig, load_config
from exchange.console.accounts import load_accounts
from exchange.console.backend import ConsoleBackend
from exchange.console.web import ConsoleApp
from exchange.service.ops.queues import QueueStatus
from exchange.service.ops.status import StatusReport
from exchange.soap.credentials import hash_password
from tests.console.client import Client

PASSWORDS = {"alice": "alice-operator-pw", "bob": "bob-viewer-password"}
ROLES = {"alice": "operator", "bob": "viewer"}
MID = "ccc-0001"
CERT = "2019010907000001"
DOC = (
    b'<?xml version="1.0"?><Certificate><Number>2019010907000001</Number><Holder>ACME</Holder></Certificate>'
)
RECEIPT = b'{"status": "REJECT", "reason": "KC number unknown to KTL", "warnings": []}'

_HASHES: dict[str, str] = {}


def users_file(folder: Path) -> Path:
    """The users file (hashes made once per session: scrypt is slow on purpose)."""
    lines = ["session_minutes = 30"]
    for name, password in PASSWORDS.items():
        hashed = _HASHES.setdefault(name, hash_password(password))
        lines += [f"[users.{name}]", f'role = "{ROLES[name]}"', f'password_hash = "{hashed}"']
    path = folder / "console-users.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def dead_lettered(audit: AuditStore, mid: str = MID, record: str = CERT, partner: str = "kr") -> None:
    """A message's trail as the service leaves it when the partner keeps rejecting it."""
    common: dict[str, Any] = {"message_id": mid, "record_id": record}
    audit.append(AuditEntry(AuditEvent.RECEIVED, details={"kind": "ccc"}, **common))
    for event in (
        AuditEvent.CONVERTED,
        AuditEvent.VALIDATED,
        AuditEvent.SEND_ENQUEUED,
        AuditEvent.SEND_IN_PROGRESS,
    ):
        audit.append(AuditEntry(event, partner=partner, **common))
    reason = "KC number unknown to KTL"
    audit.append(
        AuditEntry(AuditEvent.SEND_ATTEMPT_FAILED, partner=partner, details={"reason": reason}, **common)
    )
    audit.append(
        AuditEntry(
            AuditEvent.SEND_FAILURE, partner=partner, details={"reason": reason, "attempts": 1}, **common
        )
    )
    audit.append(AuditEntry(AuditEvent.DEAD_LETTERED, partner=partner, details={"reason": reason}, **common))
    audit.flush()


@dataclass
class Console:
    app: ConsoleApp
    backend: ConsoleBackend
    audit: AuditStore
    archive: DocumentArchive
    config: ExchangeConfig
    replays: list[tuple[str, list[str], str]] = field(default_factory=list)

    def client(self) -> Client:
        return Client(self.app)

    def login(self, user: str, password: str | None = None) -> tuple[Client, str]:
        """A client with a session, and the session's CSRF token (from the page, as the JS reads it)."""
        c = self.client()
        form = c.get("/ops/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        r = c.post_form(
            "/ops/login",
            {"csrf": token.group(1), "username": user, "password": password or PASSWORDS[user]},
        )
        assert r.status == 303, r.text
        shell = c.get("/ops/").text
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', shell)
        assert csrf is not None
        return c, csrf.group(1)


def status_report() -> StatusReport:
    queues = {
        "mra.kr.work": QueueStatus("mra.kr.work", "quorum", 3, 1),
        "mra.kr.dead": QueueStatus("mra.kr.dead", "quorum", 1, 0),
    }
    return StatusReport(datetime.now(UTC), queues, {p: None for p in load_config().partners})


def make_console(tmp_path: Path, config: Path | None = None) -> Console:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    audit = open_store(url)
    archive = DocumentArchive(url)
    cfg = load_config(config) if config else load_config()
    backend = ConsoleBackend(config=cfg, audit=audit, status=status_report, archive=archive)
    console = Console(ConsoleApp(backend, load_accounts(users_file(tmp_path))), backend, audit, archive, cfg)

    def fake_replay(partner: str, ids: list[str], operator: str) -> dict[str, Any]:
        console.replays.append((partner, ids, operator))
        return {
            "partner": partner,
            "operator": operator,
            "replayed": ids,
            "missing": [],
            "failed": [],
            "error": None,
        }

    backend.replay = fake_replay  # type: ignore[method-assign]  # the broker part is the e2e test's
    archive.put_many(
        [
            Archived("kr", MID, Kind.DOCUMENT, "a" * 64, "application/xml", DOC),
            Archived("kr", MID, Kind.RECEIPT, "b" * 64, "application/json", RECEIPT),
        ]
    )
    return console
