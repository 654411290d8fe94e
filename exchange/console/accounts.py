"""Console accounts from configuration: a TOML file named by EXCHANGE_CONSOLE_USERS.

    session_minutes = 480            # optional: idle sessions end after this long
    [users.alice]
    role = "operator"                # operator: may replay; viewer: read-only
    password_hash = "scrypt$32768$8$1$…"

Only salted scrypt hashes are stored (`exchange console hash-password` makes one), the same
scheme as the SOAP credentials.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from exchange.errors import ConfigError
from exchange.soap.credentials import check_password, hash_password

ENV_USERS = "EXCHANGE_CONSOLE_USERS"
DEFAULT_SESSION_MINUTES = 480


@cache
def _dummy_hash() -> str:
    """Checked against when the user is unknown, so a wrong name costs as long as a wrong password."""
    return hash_password("never a real password")


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: Role
    password_hash: str

    @property
    def may_change(self) -> bool:
        """Operators replay and resend; viewers only look."""
        return self.role is Role.OPERATOR

    def __repr__(self) -> str:  # never print the hash
        return f"Account(name={self.name!r}, role={self.role.value!r})"


@dataclass(frozen=True, slots=True)
class Accounts:
    users: dict[str, Account]
    session_minutes: int = DEFAULT_SESSION_MINUTES

    def authenticate(self, name: str, password: str) -> Account | None:
        account = self.users.get(name)
        ok = check_password(password, account.password_hash if account else _dummy_hash())
        return account if ok and account is not None else None


def load_accounts(path: Path) -> Accounts:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read console users: {exc}") from None
    users: dict[str, Account] = {}
    for name, entry in (raw.get("users") or {}).items():
        where = f"{path}: users.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table")
        try:
            role = Role(str(entry.get("role", "")))
        except ValueError:
            raise ConfigError(f"{where}.role must be 'viewer' or 'operator'") from None
        hashed = str(entry.get("password_hash", ""))
        if not hashed.startswith("scrypt$"):
            raise ConfigError(f"{where}.password_hash is not a scrypt hash (exchange console hash-password)")
        users[name] = Account(name, role, hashed)
    if not users:
        raise ConfigError(f"{path}: no [users.NAME] entries")
    minutes = int(raw.get("session_minutes", DEFAULT_SESSION_MINUTES))
    if minutes < 1:
        raise ConfigError(f"{path}: session_minutes must be at least 1")
    return Accounts(users, minutes)


def accounts_from_env(env: dict[str, str] | None = None) -> Accounts | None:
    """The accounts EXCHANGE_CONSOLE_USERS names; None when it is not set (no console)."""
    value = (os.environ if env is None else env).get(ENV_USERS)
    return load_accounts(Path(value)) if value else None
