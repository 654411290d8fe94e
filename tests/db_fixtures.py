"""Fixtures giving each test a fresh store URL, on SQLite and on the real PostgreSQL.

PostgreSQL tests get a random schema, dropped afterwards, so runs repeat and never
collide. When the server cannot be reached they skip, except under CI=true, where they
fail: CI must not pass by skipping the back end deployments rely on.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_BASE = os.environ.get("EXCHANGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_base() -> str:
    """The server URL, once reachability is known."""
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        reason = f"PostgreSQL not reachable at {PG_BASE}: {' '.join(str(e).split())}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: the PostgreSQL tests must run)")
        pytest.skip(reason)
    return PG_BASE


def drop_schema(base: str, schema: str) -> None:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_url(postgres_base: str) -> Iterator[str]:
    """A store URL in a schema of its own (created on first open, dropped after the test)."""
    schema = f"test_audit_{secrets.token_hex(6)}"
    sep = "&" if "?" in postgres_base else "?"
    yield f"{postgres_base}{sep}schema={schema}"
    drop_schema(postgres_base, schema)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'audit.db'}"


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str:
    """One fresh, empty store per back end."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url
