"""The message-driven service over RabbitMQ: topology, workers, partner transports."""

from exchange.amqp import wire_io as _wire_io  # noqa: F401  (fewer syscalls per frame, see there)
