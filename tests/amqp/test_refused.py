"""A refused declaration: a changed queue stops the service, a broker still recovering its
queues after a restart is retried (a 404 for a queue whose home node is not up yet)."""

from __future__ import annotations

import pika.exceptions

from exchange.service.broker import BrokerUnavailable, TopologyMismatch
from exchange.service.broker import refused as _refused


def test_other_arguments_stop_the_service() -> None:
    text = "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit'"
    exc = pika.exceptions.ChannelClosedByBroker(406, text)
    refused = _refused(exc)
    assert isinstance(refused, TopologyMismatch) and "inequivalent arg" in str(refused)


def test_a_queue_not_recovered_yet_is_retried() -> None:
    text = (
        "NOT_FOUND - home node 'rabbit@localhost' of durable queue 'bri.feed' in vhost 'v'"
        " is down or inaccessible"
    )
    refused = _refused(pika.exceptions.ChannelClosedByBroker(404, text))
    assert isinstance(refused, BrokerUnavailable) and "bri.feed" in str(refused)
