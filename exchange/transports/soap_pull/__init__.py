"""The soap-pull transport (plugin.py: TRANSPORT)."""
