"""The message-driven service over RabbitMQ: intake, topology, workers, delivery state and the
operations API. Transports are plug-ins (exchange/service/transport.py, exchange/transports/)."""
