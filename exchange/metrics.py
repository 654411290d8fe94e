"""Prometheus metrics: what operations' monitoring scrapes at /metrics.

Counted where the facts are made, never by polling: every audit entry is a lifecycle
step (messages by partner and state, retries, dead letters), each batch write of the
audit trail is timed, each acknowledged delivery has its latency. Queue depths are read
from the broker when scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exchange.audit import AuditEntry, AuditStore

_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


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

    def watch_audit(self, store: AuditStore) -> None:
        store.observers.append(self._count)
        store.on_write = self._written

    def _count(self, entry: AuditEntry) -> None:
        self.messages.labels(entry.partner or "-", entry.event.value).inc()

    def _written(self, entries: int, seconds: float) -> None:
        self.audit_write.observe(seconds)
        self.audit_entries.inc(entries)

    def latency_observer(self, worker: str) -> Callable[[list[Any]], None]:
        """For BatchConsumer.on_acked: observes each message's delivery-to-ack time."""
        import time

        histogram = self.processing.labels(worker)

        def observe(messages: list[Any]) -> None:
            now = time.perf_counter()
            for m in messages:
                histogram.observe(now - m.received)

        return observe

    def watch_queues(self, depths: Callable[[], Iterable[tuple[str, int | None, int]]]) -> None:
        """Queue depth and consumers, read from the broker at scrape time."""
        self.registry.register(_QueueCollector(depths))


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
