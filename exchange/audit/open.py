"""From a URL to a store: the one place that knows which back end serves which URL."""

from __future__ import annotations

from exchange.audit.store import AuditStore
from exchange.audit.url import PostgresTarget, parse_audit_url, resolve_audit_url


def open_store(
    url: str | None = None, *, batch_size: int = 1000, create: bool = True, migrating: bool = False
) -> AuditStore:
    """Open (creating if needed) the store at `url`, or at `resolve_audit_url()`.

    `create=False` is for readers (trace, verify, export): a mistyped path must fail,
    not verify an empty chain. A store still in the previous text format is refused with
    a message naming `exchange audit migrate`; only that command opens it with `migrating`.
    Use as a context manager to flush and close on exit.
    """
    target = parse_audit_url(resolve_audit_url(url))
    if isinstance(target, PostgresTarget):
        from exchange.audit.postgres import PostgresStore  # psycopg only when asked for

        return PostgresStore(target, batch_size=batch_size, create=create, migrating=migrating)
    from exchange.audit.sqlite import SqliteStore

    return SqliteStore(target.path, batch_size=batch_size, create=create, migrating=migrating)
