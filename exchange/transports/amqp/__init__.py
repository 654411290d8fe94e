"""The amqp transport (plugin.py: TRANSPORT)."""

from exchange.service import wire_io as _wire_io  # noqa: F401  (the simulator's frames joined too)
