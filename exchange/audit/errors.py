"""Audit errors, so the CLI can tell a user mistake or a down store from a bug."""

from __future__ import annotations

from exchange.errors import ConfigError, ExchangeError


class AuditError(ExchangeError):
    """Base of the audit trail's errors."""


class AuditConfigError(AuditError, ConfigError):
    """The audit URL, key or checkpoint file given is not usable as given."""


class StoreUnavailable(AuditError):
    """The store cannot be opened or written: server down, file not there, no permission."""


class CheckpointError(AuditError):
    """A checkpoint cannot be read or its signature does not verify."""
