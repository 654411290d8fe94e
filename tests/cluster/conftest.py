"""A three-node RabbitMQ cluster for the session (scripts/local-cluster.sh), torn down after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.harness import LocalCluster, form_cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    c = form_cluster()
    try:
        yield c
    finally:
        c.down()
