"""Declarative mappings: code lists and bidirectional XML templates, compiled once."""
