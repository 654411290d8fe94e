"""Prometheus metrics: what operations' monitoring scrapes at /metrics.

Counted where the facts are made, never by polling: every audit entry is a lifecycle
step (messages by partner and state, retries, dead letters, and the time from a send to
the partner's answer), each batch write of the audit trail is timed, each acknowledged
input message has its processing latency. Queue depths are read from the broker when scraped.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exchange.audit import AuditEntry, AuditEvent, AuditStore

_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_ANSWERED = {
    AuditEvent.ACKNOWLEDGED: "acknowledged",
    AuditEvent.ACKNOWLEDGED_WITH_WARNING: "acknowledged",
    AuditEvent.SEND_ATTEMPT_FAILED: "failed",
}
SENDS_TRACKED = 100_000
"""Sends waiting for an answer that are remembered for the delivery histogram; beyond it,
the oldest are forgotten (a partner that never answers must not grow the process)."""


class Metrics:
    """One registry per service (tests make their own; nothing global)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "mra_messages", "Lifecycle steps of messages, by partner and state (audit events).",
            ["partner", "state"], registry=self.registry,
        )  # fmt: skip
        self.processing = Histogram(
            "mra_processing_seconds", "From delivery to acknowledgement, per worker.",
            ["worker"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.audit_write = Histogram(
            "mra_audit_write_seconds", "Time to write one batch of the audit trail durably.",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.audit_entries = Counter(
            "mra_audit_entries_written", "Audit entries written durably.", registry=self.registry
        )
        self.delivery = Histogram(
            "mra_delivery_seconds", "From a send to the partner's answer, by partner and outcome.",
            ["partner", "outcome"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.retries = Counter(
            "mra_retries", "Deliveries scheduled for another attempt, by partner.", ["partner"],
            registry=self.registry,
        )  # fmt: skip
        self.dead_letters = Counter(
            "mra_dead_letters", "Messages dead-lettered with their reason, by partner.", ["partner"],
            registry=self.registry,
        )  # fmt: skip
        self._sending: OrderedDict[tuple[str, str], float] = OrderedDict()

    def watch_audit(self, store: AuditStore) -> None:
        store.observers.append(self._count)
        store.on_write = self._written

    def _count(self, entry: AuditEntry) -> None:
        event, partner = entry.event, entry.partner or "-"
        self.messages.labels(partner, event.value).inc()
        if event is AuditEvent.SEND_IN_PROGRESS and entry.message_id:
            self._sending[(partner, entry.message_id)] = time.perf_counter()
            if len(self._sending) > SENDS_TRACKED:
                self._sending.popitem(last=False)
        elif event in _ANSWERED and entry.message_id:
            started = self._sending.pop((partner, entry.message_id), None)
            if started is not None:
                self.delivery.labels(partner, _ANSWERED[event]).observe(time.perf_counter() - started)
        elif event is AuditEvent.WAITING_FOR_RETRY:
            self.retries.labels(partner).inc()
        elif event is AuditEvent.DEAD_LETTERED:
            self.dead_letters.labels(partner).inc()

    def _written(self, entries: int, seconds: float) -> None:
        self.audit_write.observe(seconds)
        self.audit_entries.inc(entries)

    def latency_observer(self, worker: str) -> Callable[[list[Any]], None]:
        """For BatchConsumer.on_acked: observes each message's delivery-to-ack time."""
        histogram = self.processing.labels(worker)

        def observe(messages: list[Any]) -> None:
            now = time.perf_counter()
            for m in messages:
                histogram.observe(now - m.received)

        return observe

    def watch_queues(self, depths: Callable[[], Iterable[tuple[str, int | None, int]]]) -> None:
        """Queue depth and consumers, read from the broker at scrape time."""
        self.registry.register(_QueueCollector(depths))

    def watch_health(self, health: Callable[[], Mapping[str, str]]) -> None:
        """mra_partner_health{partner,health}: 1 for each partner's current health, 0 for
        the others (a state set), read at scrape time."""
        self.registry.register(_HealthCollector(health))


HEALTH_STATES = ("healthy", "degraded", "stalled", "not_configured")


class _HealthCollector(Collector):
    def __init__(self, health: Callable[[], Mapping[str, str]]):
        self._health = health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "mra_partner_health", "Each partner's health (1 = current).", labels=["partner", "health"]
        )
        try:
            current = dict(self._health())
        except Exception:  # the broker is away: no health this scrape, not an error page
            current = {}
        for partner, state in sorted(current.items()):
            for name in HEALTH_STATES:
                family.add_metric([partner, name], 1.0 if state == name else 0.0)
        yield family


class _QueueCollector(Collector):
    def __init__(self, depths: Callable[[], Iterable[tuple[str, int | None, int]]]):
        self._depths = depths

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("mra_queue_depth", "Messages ready in a queue.", labels=["queue"])
        consumers = GaugeMetricFamily("mra_queue_consumers", "Consumers on a queue.", labels=["queue"])
        try:
            rows = list(self._depths())
        except Exception:  # the broker is away: no queue metrics this scrape, not an error page
            rows = []
        for queue, ready, count in rows:
            if ready is not None:
                depth.add_metric([queue], ready)
            consumers.add_metric([queue], count)
        yield depth
        yield consumers
