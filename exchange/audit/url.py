"""Which store to use: URLs written as SQLAlchemy writes them, parsed without SQLAlchemy."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from exchange.audit.errors import AuditConfigError

ENV_URL = "EXCHANGE_AUDIT_URL"
DEFAULT_URL = "sqlite:///exchange-audit.db"
DEFAULT_PG_SCHEMA = "public"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def resolve_audit_url(cli_value: str | None = None) -> str:
    """`--audit` if given, else $EXCHANGE_AUDIT_URL, else ./exchange-audit.db (SQLite)."""
    if cli_value:
        return cli_value
    return os.environ.get(ENV_URL) or DEFAULT_URL


@dataclass(frozen=True, slots=True)
class SqliteTarget:
    path: Path | None
    """None means an in-memory database (`sqlite://`), for tests only."""


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    conninfo: str
    """A libpq URI without our own query parameters, handed to psycopg as is."""
    schema: str


def parse_audit_url(url: str) -> SqliteTarget | PostgresTarget:
    """`sqlite:///rel.db`, `sqlite:////abs.db`, `sqlite://` (memory), `postgresql://…`.

    A `+driver` suffix (`postgresql+psycopg://`) is accepted and ignored. PostgreSQL takes
    one extra query parameter, `schema` (default `public`); the rest go to libpq.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise AuditConfigError(f"audit URL has no scheme: {url!r} (e.g. sqlite:///exchange-audit.db)")
    dialect = scheme.split("+", 1)[0].lower()
    if dialect == "sqlite":
        return _sqlite(rest)
    if dialect in ("postgresql", "postgres"):
        return _postgres(rest)
    raise AuditConfigError(f"audit URL scheme {scheme!r} is not sqlite or postgresql")


def _sqlite(rest: str) -> SqliteTarget:
    path, _, _query = rest.partition("?")
    if path == "" or path == "/:memory:":
        return SqliteTarget(None)
    if not path.startswith("/"):
        raise AuditConfigError(
            "SQLite audit URL needs three slashes for a relative path (sqlite:///audit.db) "
            "and four for an absolute one (sqlite:////var/lib/audit.db)"
        )
    return SqliteTarget(Path(path[1:]))


def _postgres(rest: str) -> PostgresTarget:
    parts = urlsplit("postgresql://" + rest)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = DEFAULT_PG_SCHEMA
    kept: list[tuple[str, str]] = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if not _IDENT.fullmatch(schema):
        raise AuditConfigError(f"PostgreSQL schema must be a plain identifier: {schema!r}")
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(kept), ""))
    return PostgresTarget(conninfo, schema.lower())
