"""The harness itself: three nodes, one cluster, each on its own port, the shared node untouched."""

from __future__ import annotations

import pika

from tests.cluster.harness import LocalCluster


def test_three_nodes_form_one_cluster_on_their_own_ports(cluster: LocalCluster) -> None:
    assert cluster.urls == [f"amqp://guest:guest@127.0.0.1:{cluster.amqp_base + n}/" for n in (1, 2, 3)]
    status = cluster.ctl(2, "cluster_status", "--formatter", "json")
    for n in (1, 2, 3):
        assert cluster.node(n) in status
    # a queue declared through node 3 is seen through node 1: one cluster, not three brokers
    conn = pika.BlockingConnection(pika.URLParameters(cluster.urls[2]))
    conn.channel().queue_declare("harness.probe", durable=True, arguments={"x-queue-type": "quorum"})
    conn.close()
    conn = pika.BlockingConnection(pika.URLParameters(cluster.urls[0]))
    ch = conn.channel()
    assert ch.queue_declare("harness.probe", passive=True).method.message_count == 0
    ch.queue_delete("harness.probe")
    conn.close()
    assert "rabbit@" not in status  # the shared node on 5672 is no member
