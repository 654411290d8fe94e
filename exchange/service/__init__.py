"""The message-driven service over RabbitMQ: topology, workers, partner transports."""
