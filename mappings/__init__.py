"""Declarative mappings and code lists (data, shipped as package data)."""
