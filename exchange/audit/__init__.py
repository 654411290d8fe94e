"""Audit trail (placeholder, being written)."""
