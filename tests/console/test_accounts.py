"""Console accounts: read from the users file, only scrypt hashes, two roles."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange.cli import app
from exchange.console.accounts import Role, accounts_from_env, load_accounts
from exchange.errors import ConfigError
from tests.console.support import PASSWORDS, users_file


def test_users_file_roles_and_passwords(tmp_path: Path) -> None:
    accounts = load_accounts(users_file(tmp_path))
    assert accounts.session_minutes == 30
    alice = accounts.authenticate("alice", PASSWORDS["alice"])
    assert alice is not None and alice.role is Role.OPERATOR and alice.may_change
    bob = accounts.authenticate("bob", PASSWORDS["bob"])
    assert bob is not None and bob.role is Role.VIEWER and not bob.may_change
    assert accounts.authenticate("alice", PASSWORDS["bob"]) is None
    assert accounts.authenticate("nobody", PASSWORDS["bob"]) is None
    assert "scrypt" not in repr(alice)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[users.a]\nrole = "admin"\npassword_hash = "scrypt$1"\n', "role must be 'viewer' or 'operator'"),
        ('[users.a]\nrole = "viewer"\npassword_hash = "plain"\n', "is not a scrypt hash"),
        ("session_minutes = 5\n", "no [users.NAME] entries"),
        ("[users\n", "cannot read console users"),
    ],
)
def test_bad_users_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "users.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("$", r"\$")):
        load_accounts(path)


def test_accounts_come_from_the_environment(tmp_path: Path) -> None:
    assert accounts_from_env({}) is None
    accounts = accounts_from_env({"EXCHANGE_CONSOLE_USERS": str(users_file(tmp_path))})
    assert accounts is not None and set(accounts.users) == {"alice", "bob"}


def test_hash_password_command_makes_a_usable_entry(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["console", "hash-password", "--user", "carol", "--role", "operator"], input="a-long-password\n"
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "users.toml"
    path.write_text(result.stdout, encoding="utf-8")
    carol = load_accounts(path).authenticate("carol", "a-long-password")
    assert carol is not None and carol.role is Role.OPERATOR
    short = runner.invoke(app, ["console", "hash-password"], input="short\n")
    assert short.exit_code == 2
    bare = runner.invoke(app, ["console", "hash-password"], input="a-long-password\n")
    assert bare.exit_code == 0 and bare.stdout.startswith("scrypt$")
