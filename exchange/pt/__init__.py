"""Proficiency-testing statistics per ISO 13528:2022 (placeholder, being written)."""
