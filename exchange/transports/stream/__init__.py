"""The stream transport (plugin.py: TRANSPORT)."""
