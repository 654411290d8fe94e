"""The stream transport: deliveries appended to the feed stream that consumers read at their own
pace (no receipts: appended is delivered)."""

from __future__ import annotations

import time
from typing import Any

from pika.spec import BasicProperties

from exchange.audit import AuditEvent
from exchange.service.consumer import Work
from exchange.service.delivery import PartnerDelivery, attempt_of, forward_properties
from exchange.service.topology import FEED_STREAM
from exchange.state import Delivery, State


class FeedDelivery(PartnerDelivery):
    """Belt-and-Road: append the credential to the bri.feed stream; appended = delivered.

    An issued credential (the intake issued and signed it: header credential-id) goes out
    as one version: message-id = the credential id, the time it is appended, app-id, its
    media type (application/vc+jwt) and the certificate it is a version of, so a consumer
    keeps the latest per certificate."""

    def deliver(self, work: Work, already_sent: bool) -> None:
        m = work.message
        credential_id = m.headers.get("credential-id")
        if credential_id:
            props = BasicProperties(
                delivery_mode=2,
                message_id=str(credential_id),
                correlation_id=m.message_id,
                timestamp=int(time.time()),
                app_id=APP_ID,
                type=m.properties.type,
                content_type=m.properties.content_type,
                headers={
                    **m.headers,
                    "certificate": f"{m.properties.type}:{_text(m.headers.get('record-id'))}",
                },
            )
        else:
            props = forward_properties(m, timestamp=None)
        entry = self._entry(AuditEvent.ACKNOWLEDGED, m, stream=FEED_STREAM)
        self.audit.append(self._entry(AuditEvent.SEND_IN_PROGRESS, m, stream=FEED_STREAM))
        self.publish(work, "", FEED_STREAM, m.body, props, on_ok=lambda: self.audit.append(entry))
        work.states.append(
            Delivery(
                self.partner,
                m.message_id or "",
                m.headers.get("sha256", ""),
                attempt_of(m),
                State.ACKNOWLEDGED,
            )
        )


APP_ID = "mra-exchange"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")
