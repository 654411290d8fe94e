"""Fixtures shared across test packages."""

pytest_plugins = ["tests.amqp.isolated", "tests.db_fixtures"]


def pytest_configure(config: object) -> None:
    """Sealed audit checkpoints (exchange/audit/sealing.py) that tests' services write go to
    a folder of the run, not to the home directory."""
    import os
    import tempfile

    os.environ.setdefault("EXCHANGE_AUDIT_CHECKPOINT_DIR", tempfile.mkdtemp(prefix="mra-test-seals-"))
