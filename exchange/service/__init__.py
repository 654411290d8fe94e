"""The message-driven service over RabbitMQ: intake, topology, workers, delivery state and the
operations API. Transports are plug-ins (exchange/service/transport.py, exchange/transports/)."""

from exchange.service import wire_io as _wire_io  # noqa: F401  (fewer syscalls per frame, see there)
