"""Fault injection under load on the three-node cluster: 5,000 records through kr (its own
vhost on the cluster, the simulator acknowledging) and bri (the feed stream), two `exchange
run` workers on different nodes, the audit in PostgreSQL. Each scenario breaks the cluster
while the records flow; the checker then says what each partner and the feed hold."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.cluster.checker import Verdict, check, wait_settled
from tests.cluster.harness import LocalCluster
from tests.cluster.postgres import PrivatePostgres
from tests.cluster.world import ClusterWorld

RECORDS = int(os.environ.get("MRA_CLUSTER_RECORDS", "5000"))
pytestmark = pytest.mark.timeout(420)  # a rolling restart alone takes three node boots


@pytest.fixture(scope="module")
def world(
    cluster: LocalCluster, private_postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterWorld]:
    """One world for every scenario (its vhosts, two workers, the simulator, the audit in
    the suite's own PostgreSQL): each scenario publishes records of its own and is checked
    on those; setting a world up and down once instead of six times keeps the suite short."""
    cluster.await_all()
    w = ClusterWorld(cluster, tmp_path_factory.mktemp("world"), private_postgres.url + "?schema=mra_cluster")
    w.provision()
    w.start_simulator()
    w.start_workers((0, 1))
    try:
        yield w
    finally:
        w.close()


def run_scenario(
    world: ClusterWorld, name: str, fault: Callable[[], None], verdicts: list[Verdict], share: float = 0.3
) -> Verdict:
    """Publish the records; once `share` of them are confirmed, inject the fault beside the
    load; wait for everything to settle (or time out) and check."""
    messages = world.messages(RECORDS, len(verdicts) + 1)
    ids = {mid for mid, _ in messages}
    errors: list[BaseException] = []

    def inject() -> None:
        deadline = time.monotonic() + 120
        while world.published < share * RECORDS and time.monotonic() < deadline:
            time.sleep(0.1)
        try:
            fault()
        except BaseException as exc:  # reported by the test, not lost in a thread
            errors.append(exc)

    started = time.monotonic()
    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    world.publish(messages)
    injector.join(timeout=300)
    world.cluster.await_all()
    wait_settled(world, ids, timeout=200)
    verdict = check(world, name, ids, time.monotonic() - started)
    verdicts.append(verdict)
    assert not errors, errors
    assert verdict.ok, f"{verdict.problems}\n{world.log_text()}"
    return verdict


def test_feed_exactly_once_across_stop_app_of_the_stream_leader(
    world: ClusterWorld, verdicts: list[Verdict]
) -> None:
    """The issue's measurement (5,743 messages for 5,000 records after one stop_app): each
    credential on bri.feed once, and every copy there in the audit trail."""
    cluster = world.cluster

    def fault() -> None:
        leader = cluster.leader("bri.feed", world.vhost)
        cluster.ctl(leader, "stop_app")
        time.sleep(5)
        cluster.ctl(leader, "start_app")

    run_scenario(world, "stop_app bri.feed leader", fault, verdicts)


def test_kill_9_the_node_leading_mra_intake(world: ClusterWorld, verdicts: list[Verdict]) -> None:
    cluster = world.cluster
    killed: list[int] = []

    def fault() -> None:
        leader = cluster.leader("mra.intake", world.vhost)
        killed.append(leader)
        cluster.kill(leader)
        time.sleep(5)
        cluster.start(leader)

    run_scenario(world, "kill -9 mra.intake leader", fault, verdicts)
    assert killed


def test_stop_a_node_and_start_it_again(world: ClusterWorld, verdicts: list[Verdict]) -> None:
    def fault() -> None:
        world.cluster.stop(2)
        time.sleep(5)
        world.cluster.start(2)

    run_scenario(world, "stop + start node 2", fault, verdicts)


def test_pause_a_node_for_30_seconds(world: ClusterWorld, verdicts: list[Verdict]) -> None:
    def fault() -> None:
        world.cluster.pause(1)  # worker 1's own node
        try:
            time.sleep(30)
        finally:
            world.cluster.resume(1)

    run_scenario(world, "SIGSTOP node 1 for 30 s", fault, verdicts)


def test_postgresql_restarted_mid_stream(
    world: ClusterWorld, private_postgres: PrivatePostgres, verdicts: list[Verdict]
) -> None:
    """The audit and delivery state lost for 5 s (sessions cut): writes retried, nothing lost."""
    run_scenario(world, "PostgreSQL restart", lambda: private_postgres.restart(5), verdicts)


def test_rolling_restart_of_all_three(world: ClusterWorld, verdicts: list[Verdict]) -> None:
    def fault() -> None:
        for n in (1, 2, 3):
            world.cluster.stop(n)
            world.cluster.start(n)
            world.cluster.await_all()

    run_scenario(world, "rolling restart 1,2,3", fault, verdicts, share=0.1)
