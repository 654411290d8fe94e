"""Fixtures for the audit tests come from tests/db_fixtures.py (shared with every store
that lives in the audit database)."""
