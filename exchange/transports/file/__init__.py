"""The file transport (plugin.py: TRANSPORT)."""
