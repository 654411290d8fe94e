"""The documents sent and the receipts received are archived per batch, not per message:
one write for a batch of intake work, one for a batch of receipts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import pytest

from exchange.archive import Archived, DocumentArchive, Kind
from exchange.audit import AuditEvent, open_store
from exchange.config import load_config
from exchange.service.service import Service, ServiceOptions
from exchange.service.settings import AmqpSettings
from exchange.state import StateStore
from tests.amqp.isolated import World, domestic_messages, publish_domestic

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


class CountingArchive(DocumentArchive):
    """Counts writes, and notes documents archived after their intake was already done
    (a crash between the two would have lost them: the redelivery is a duplicate)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.writes: list[tuple[Kind, ...]] = []
        self.late: list[str] = []
        self._state = StateStore(url)

    def put_many(self, rows: Iterable[Archived]) -> None:
        rows = list(rows)
        self.writes.append(tuple(r.kind for r in rows))
        documents = [r.message_id for r in rows if r.kind is Kind.DOCUMENT]
        self.late += self._state.get_many("intake", documents)
        super().put_many(rows)

    def close(self) -> None:
        self._state.close()
        super().close()


def test_documents_and_receipts_are_archived_a_batch_at_a_time(world: World) -> None:
    sim, _ = world.simulator()
    store, state = open_store(world.audit_url), StateStore(world.audit_url)
    archive = CountingArchive(world.audit_url)
    cfg = load_config(world.config_path)
    service = Service(cfg, store, state, AmqpSettings(url=world.url), ServiceOptions(), archive=archive)
    thread = threading.Thread(target=service.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    n = 60
    try:
        assert service.ready.wait(30)
        publish_domestic(world.url, domestic_messages("archive", n))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            acked = [e for e in store.export(None, None, "kr") if e.event is AuditEvent.ACKNOWLEDGED]
            if len(acked) == n:
                break
            time.sleep(0.3)
        assert len(acked) == n
    finally:
        service.request_stop()
        thread.join(timeout=30)
        store.close()
        state.close()
        sim.stop()
    documents = [w for w in archive.writes if Kind.DOCUMENT in w]
    receipts = [w for w in archive.writes if Kind.RECEIPT in w]
    partners = len(cfg.partners)  # every sample goes to kr and, when configured, bri
    assert sum(len(w) for w in documents) == n * partners
    assert sum(len(w) for w in receipts) == n
    assert len(documents) < n and len(receipts) < n  # batches, never a write per message
    assert archive.late == []  # each batch's documents were kept before its states said done
    for i in (0, n - 1):
        kept = archive.for_message(f"archive-{i}")
        doc = next(a for a in kept if a.partner == "kr" and a.kind is Kind.DOCUMENT)
        assert f"2019010907{i:06d}".encode() in doc.body and doc.content_type == "application/xml"
        receipt = next(a for a in kept if a.partner == "kr" and a.kind is Kind.RECEIPT)
        assert b'"ACK"' in receipt.body
    archive.close()
