"""Fixtures shared across test packages."""

pytest_plugins = ["tests.amqp.isolated", "tests.db_fixtures"]
