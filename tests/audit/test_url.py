"""Store URLs as SQLAlchemy writes them, and which one wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.audit import AuditConfigError, open_store, resolve_audit_url
from exchange.audit.url import PostgresTarget, SqliteTarget, parse_audit_url


def test_resolve_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXCHANGE_AUDIT_URL", raising=False)
    assert resolve_audit_url() == "sqlite:///exchange-audit.db"
    monkeypatch.setenv("EXCHANGE_AUDIT_URL", "sqlite:////env.db")
    assert resolve_audit_url() == "sqlite:////env.db"
    assert resolve_audit_url("sqlite:///cli.db") == "sqlite:///cli.db"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative.db", Path("relative.db")),
        ("sqlite:///sub/dir/a.db", Path("sub/dir/a.db")),
        ("sqlite:////abs/path.db", Path("/abs/path.db")),
        ("sqlite+pysqlite:////abs/path.db", Path("/abs/path.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
    ],
)
def test_sqlite_urls(url: str, path: Path | None) -> None:
    assert parse_audit_url(url) == SqliteTarget(path)


def test_postgres_urls() -> None:
    t = parse_audit_url("postgresql://svc:pw@db.example:5433/exchange?schema=audit&sslmode=require")
    assert t == PostgresTarget("postgresql://svc:pw@db.example:5433/exchange?sslmode=require", "audit")
    for scheme in ("postgres", "postgresql+psycopg", "POSTGRESQL"):
        t = parse_audit_url(f"{scheme}://u@h/db")
        assert t == PostgresTarget("postgresql://u@h/db", "public")


@pytest.mark.parametrize(
    "url",
    [
        "exchange-audit.db",
        "mysql://u@h/db",
        "sqlite://relative.db",
        "postgresql://u@h/db?schema=x;drop",
        "postgresql://u@h/db?schema=",
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(AuditConfigError):
        parse_audit_url(url)


def test_default_store_is_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXCHANGE_AUDIT_URL", raising=False)
    with open_store() as store:
        store.head()
    assert (tmp_path / "exchange-audit.db").is_file()
    monkeypatch.setenv("EXCHANGE_AUDIT_URL", "sqlite:///from-env.db")
    open_store().close()
    assert (tmp_path / "from-env.db").is_file()
