"""GetDeliveryStatus over zeep: a sent message's lifecycle, from the audit trail."""

from __future__ import annotations

import pytest

from exchange.audit import AuditEntry, AuditEvent
from tests.soap.support import Endpoint, expect_fault


def _sent(endpoint: Endpoint, message_id: str, partner: str, *events: AuditEvent) -> None:
    """What the outbound side records for a message it sends."""
    for event in events:
        endpoint.audit.append(
            AuditEntry(event, message_id=message_id, record_id="2019010907123456", partner=partner)
        )
    endpoint.audit.flush()


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_state_is_the_last_step_with_the_history(endpoint: Endpoint, version: str) -> None:
    _sent(endpoint, "out-1", "eu", AuditEvent.SEND_ENQUEUED, AuditEvent.WAITING_FOR_RECEIPT)
    status = endpoint.service("eu", version=version).GetDeliveryStatus(MessageId="out-1")
    assert status.State == "WAITING_FOR_RECEIPT"
    assert [e.State for e in status.Event] == ["SEND_ENQUEUED", "WAITING_FOR_RECEIPT"]
    assert status.Since == status.Event[-1].Time


def test_a_pulled_and_acknowledged_message_reads_acknowledged(endpoint: Endpoint) -> None:
    _sent(endpoint, "out-2", "nz", AuditEvent.SEND_ENQUEUED)
    endpoint.store.enqueue_for_pull("nz", "out-2", "ccc", "2019010907123456", b"<doc/>")
    service = endpoint.service("nz")
    service.PullDocument(MessageId="out-2")
    assert service.GetDeliveryStatus(MessageId="out-2").State == "DOWNLOADED"
    service.AcknowledgeDocument(MessageId="out-2", Outcome="OK")
    assert service.GetDeliveryStatus(MessageId="out-2").State == "ACKNOWLEDGED"


def test_an_unknown_message(endpoint: Endpoint) -> None:
    expect_fault("UNKNOWN_DOCUMENT", endpoint.service("eu").GetDeliveryStatus, MessageId="never-sent")
