"""The HTTP front during a real run: /metrics scraped and parsed with the Prometheus
client's own parser, /healthz and /readyz."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exchange.audit import open_store
from exchange.config import load_config
from exchange.http import build_front
from exchange.metrics import Metrics
from exchange.service.service import Service, ServiceOptions
from exchange.service.settings import AmqpSettings
from exchange.soap.server import serve
from exchange.state import StateStore
from tests.amqp.isolated import World, domestic_messages, publish_domestic

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_health_and_readiness_during_a_run(world: World) -> None:
    sim, _ = world.simulator()
    store, state = open_store(world.audit_url), StateStore(world.audit_url)
    metrics = Metrics()
    service = Service(
        load_config(world.config_path), store, state, AmqpSettings(url=world.url), ServiceOptions(),
        metrics=metrics,
    )  # fmt: skip
    front = build_front(metrics, {"broker": service.ready.is_set, "schemas": lambda: True})
    server = serve(front, "127.0.0.1", 0)
    base = server.base_url
    assert _get(f"{base}/healthz")[0] == 200
    status, body = _get(f"{base}/readyz")
    assert status == 503 and json.loads(body)["checks"]["broker"] is False  # not connected yet
    thread = threading.Thread(target=service.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        assert service.ready.wait(30)
        assert _get(f"{base}/readyz")[0] == 200
        publish_domestic(world.url, domestic_messages("metrics", 12))
        deadline = time.monotonic() + 30
        key = ("mra_messages_total", (("partner", "kr"), ("state", "ACKNOWLEDGED")))
        delivered = ("mra_processing_seconds_count", (("worker", "deliver-kr"),))
        while time.monotonic() < deadline:
            samples = _samples(_get(f"{base}/metrics")[1].decode())
            # A receipt can be audited ACKNOWLEDGED before the delivery worker has acked
            # (and timed) the message it sent: wait for both.
            if samples.get(key) == 12 and samples.get(delivered, 0) >= 12:
                break
            time.sleep(0.3)
        assert samples[key] == 12
        assert samples[("mra_messages_total", (("partner", "kr"), ("state", "SEND_ENQUEUED")))] == 12
        assert samples[("mra_processing_seconds_count", (("worker", "intake"),))] >= 12
        assert samples[delivered] >= 12
        answered = ("mra_delivery_seconds_count", (("outcome", "acknowledged"), ("partner", "kr")))
        assert samples[answered] == 12  # one send, one answer each
        assert samples.get(("mra_dead_letters_total", (("partner", "kr"),)), 0) == 0
        assert samples[("mra_audit_write_seconds_count", ())] >= 1
        assert samples[("mra_queue_consumers", (("queue", "mra.intake"),))] == 1
        assert ("mra_queue_depth", (("queue", "mra.kr.work"),)) in samples
        assert _get(f"{base}/nowhere")[0] == 404
        assert _get(f"{base}/soap/v1?wsdl")[0] == 503  # no SOAP endpoint given to this front
    finally:
        service.request_stop()
        thread.join(timeout=30)
        server.stop()
        store.close()
        state.close()
        sim.stop()
