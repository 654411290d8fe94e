"""The handoff to domestic systems: canonical JSON on cn.domestic.out with a publisher
confirm, on the real RabbitMQ (an isolated vhost); refusals when the broker is away."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pika
import pytest

from exchange.config import load_config
from exchange.service.settings import with_vhost
from exchange.service.topology import DOMESTIC_OUT
from exchange.soap import AmqpHandoff, DomesticRecord, HandoffError
from tests.amqp.isolated import BROKER, Vhosts, require_broker
from tests.soap.conftest import EndpointFactory
from tests.soap.support import eess_record, expect_fault, nz_document


@pytest.fixture
def vhost_url(vhosts: Vhosts) -> str:
    require_broker()
    return with_vhost(BROKER, vhosts.vhost)


@pytest.fixture
def domestic_queue(vhost_url: str) -> Iterator[tuple[Any, str]]:
    """A private queue bound to cn.domestic.out for nz records, as a domestic system would."""
    conn = pika.BlockingConnection(pika.URLParameters(vhost_url))
    ch = conn.channel()
    ch.exchange_declare(DOMESTIC_OUT, exchange_type="topic", durable=True)
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(queue, DOMESTIC_OUT, routing_key="nz.#")
    yield ch, queue
    conn.close()


def _take(ch: Any, queue: str) -> tuple[Any, bytes]:
    for method, props, body in ch.consume(queue, inactivity_timeout=10):
        assert method is not None, "nothing arrived on cn.domestic.out"
        ch.basic_ack(method.delivery_tag)
        ch.cancel()
        return props, body
    raise AssertionError("unreachable")


@pytest.mark.rabbitmq
def test_a_record_is_published_confirmed_as_canonical_json(
    vhost_url: str, domestic_queue: tuple[Any, str]
) -> None:
    handoff = AmqpHandoff(vhost_url, load_config())
    try:
        handoff(DomesticRecord("nz", "ours-1", "theirs-1", eess_record()))
    finally:
        handoff.close()
    props, body = _take(*domestic_queue)
    assert json.loads(body) == eess_record().model_dump(mode="json", by_alias=True, exclude_none=True)
    assert (props.message_id, props.type, props.delivery_mode) == ("nz:theirs-1", "ccc", 2)
    assert props.headers == {"partner": "nz", "record-id": "NZ-ESS-2021-0042", "mra-message-id": "ours-1"}


@pytest.mark.rabbitmq
def test_a_soap_submission_reaches_domestic_systems_through_the_broker(
    endpoint_factory: EndpointFactory, vhost_url: str, domestic_queue: tuple[Any, str]
) -> None:
    handoff = AmqpHandoff(vhost_url, load_config())
    endpoint = endpoint_factory(handoff=handoff)
    try:
        receipt = endpoint.service("nz").SubmitDocument(MessageId="nz-broker-1", Document=nz_document())
    finally:
        handoff.close()
    props, body = _take(*domestic_queue)
    assert props.headers["mra-message-id"] == receipt.MessageId
    assert json.loads(body)["certNo"] == "NZ-ESS-2021-0042"
    assert endpoint.trail(receipt.MessageId) == ["RECEIVED", "VALIDATED", "DELIVERED_DOMESTIC"]


def test_an_unreachable_broker_is_a_handoff_error() -> None:
    handoff = AmqpHandoff("amqp://guest:guest@127.0.0.1:1/?connection_attempts=1", load_config())
    with pytest.raises(HandoffError, match="unavailable"):
        handoff(DomesticRecord("nz", "ours-1", "theirs-1", eess_record()))


def test_an_unreachable_broker_is_unavailable_to_the_partner_who_may_retry(
    endpoint_factory: EndpointFactory,
) -> None:
    endpoint = endpoint_factory(handoff=AmqpHandoff("amqp://guest:guest@127.0.0.1:1/", load_config()))
    service = endpoint.service("nz")
    exc = expect_fault("UNAVAILABLE", service.SubmitDocument, MessageId="nz-down", Document=nz_document())
    assert exc.code == "soap:Server"
    rejected = endpoint.last_rejection()
    assert endpoint.trail(rejected.message_id or "") == ["RECEIVED", "VALIDATED", "REJECTED"]
    expect_fault(
        "UNAVAILABLE", service.SubmitDocument, MessageId="nz-down", Document=nz_document()
    )  # not DUPLICATE
