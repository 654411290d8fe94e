"""The amqp transport (plugin.py: TRANSPORT)."""
