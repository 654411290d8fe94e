"""The soap-push transport (plugin.py: TRANSPORT)."""
