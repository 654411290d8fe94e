"""Metrics counted from the audit entries as they are appended (unit level; the scrape of
a real run is in tests/test_http.py)."""

from __future__ import annotations

import pytest

from exchange import metrics as metrics_module
from exchange.audit import AuditEntry, AuditEvent
from exchange.metrics import Metrics


def _value(m: Metrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _feed(m: Metrics, *steps: tuple[AuditEvent, str, str]) -> None:
    for event, partner, mid in steps:
        m._count(AuditEntry(event, message_id=mid, partner=partner))


def test_a_send_answered_is_one_delivery_sample_by_outcome() -> None:
    m = Metrics()
    E = AuditEvent
    _feed(
        m,
        (E.SEND_IN_PROGRESS, "kr", "a"), (E.ACKNOWLEDGED, "kr", "a"),
        (E.SEND_IN_PROGRESS, "kr", "b"), (E.SEND_ATTEMPT_FAILED, "kr", "b"), (E.WAITING_FOR_RETRY, "kr", "b"),
        (E.SEND_IN_PROGRESS, "kr", "b"), (E.ACKNOWLEDGED_WITH_WARNING, "kr", "b"),
        (E.ACKNOWLEDGED, "kr", "never-sent"),  # e.g. a receipt after a restart: no start, no sample
    )  # fmt: skip
    assert _value(m, "mra_delivery_seconds_count", partner="kr", outcome="acknowledged") == 2
    assert _value(m, "mra_delivery_seconds_count", partner="kr", outcome="failed") == 1
    assert _value(m, "mra_retries_total", partner="kr") == 1
    assert _value(m, "mra_messages_total", partner="kr", state="SEND_IN_PROGRESS") == 3


def test_dead_letters_are_counted_by_partner() -> None:
    m = Metrics()
    _feed(m, (AuditEvent.DEAD_LETTERED, "eu", "x"), (AuditEvent.DEAD_LETTERED, "eu", "y"))
    assert _value(m, "mra_dead_letters_total", partner="eu") == 2
    assert _value(m, "mra_dead_letters_total", partner="kr") == 0


def test_sends_never_answered_do_not_grow_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "SENDS_TRACKED", 10)
    m = Metrics()
    _feed(m, *((AuditEvent.SEND_IN_PROGRESS, "eu", f"m{i}") for i in range(25)))
    assert len(m._sending) == 10
    _feed(m, (AuditEvent.ACKNOWLEDGED, "eu", "m0"), (AuditEvent.ACKNOWLEDGED, "eu", "m24"))
    assert _value(m, "mra_delivery_seconds_count", partner="eu", outcome="acknowledged") == 1  # m0 forgotten
