"""The lifecycle vocabulary shared by every transport, so one trace reads the same for all."""

from __future__ import annotations

from enum import StrEnum


class AuditEvent(StrEnum):
    """What happened to a message at one step; values are stored and hashed verbatim."""

    RECEIVED = "RECEIVED"
    REJECTED = "REJECTED"
    CONVERTED = "CONVERTED"
    VALIDATED = "VALIDATED"
    SIGNED = "SIGNED"
    READY_TO_SEND = "READY_TO_SEND"
    """A document for a SOAP partner is converted and validated: next, its work queue."""
    SEND_ENQUEUED = "SEND_ENQUEUED"
    SEND_IN_PROGRESS = "SEND_IN_PROGRESS"
    WAITING_FOR_RECEIPT = "WAITING_FOR_RECEIPT"
    SEND_ATTEMPT_FAILED = "SEND_ATTEMPT_FAILED"
    WAITING_FOR_RETRY = "WAITING_FOR_RETRY"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ACKNOWLEDGED_WITH_WARNING = "ACKNOWLEDGED_WITH_WARNING"
    SEND_FAILURE = "SEND_FAILURE"
    DEAD_LETTERED = "DEAD_LETTERED"
    REPLAYED = "REPLAYED"
    DOWNLOADED = "DOWNLOADED"
    """The partner pulled the message."""
    DELIVERED_DOMESTIC = "DELIVERED_DOMESTIC"
    """An inbound partner record was handed to domestic systems."""
    SUPERSEDED = "SUPERSEDED"
    """A later version of the same record became current; this one's document is kept."""
