"""`exchange bench pipeline`: N records through the full pipeline (consume, convert,
validate, audit, certificate ledger and document archive, publish with confirms, ack:
the intake worker as `exchange run` builds it) and, in the same run, a bare relay on
the same broker and client (consume -> publish with confirms -> ack, no processing)
as the baseline. Both use the same batch consumer, so the ratio is the cost of the work.

It runs in its own vhost (`mra-bench`, made with rabbitmqctl when missing) so it
never touches a running service's queues.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
from pika.spec import BasicProperties

from exchange.archive import DocumentArchive
from exchange.audit import open_store
from exchange.config import ExchangeConfig
from exchange.pipeline import Converter
from exchange.registry import source as load_source
from exchange.service.confirm import ConfirmingPublisher
from exchange.service.consumer import BatchConsumer, Message, Work
from exchange.service.cpu import CpuMeter, broker_pid, children
from exchange.service.intake import IntakeWorker
from exchange.service.publish import Outgoing, publish_many
from exchange.service.settings import AmqpSettings, with_vhost
from exchange.service.store import SoapStore
from exchange.service.topology import DOMESTIC_IN, INTAKE_QUEUE, build_topology, declare, work_queue
from exchange.state import StateStore

BENCH_VHOST = "mra-bench"
RELAY_IN = "bench.relay.in"
RELAY_OUT = "bench.relay.out"


class Relay(BatchConsumer):
    """The baseline: forward each body unchanged, confirmed, then ack."""

    def handle(self, works: list[Work]) -> None:
        for work in works:
            m = work.message
            self.publish(
                work, "", RELAY_OUT, m.body, BasicProperties(delivery_mode=2, message_id=m.message_id)
            )


@dataclass
class Run:
    records: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def sample_certificate() -> dict[str, Any]:
    """The first CCC certificate of the shipped samples, as the domestic side exports it."""
    path = Path(__file__).resolve().parents[2] / "samples" / "ccc.jsonl"
    sample: dict[str, Any] = json.loads(path.read_text("utf-8").splitlines()[0])
    return sample


def _bodies(count: int) -> list[tuple[str, bytes]]:
    sample = sample_certificate()
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(count):
        record = dict(sample)
        record["certNo"] = f"2019010907{i % 1_000_000:06d}"
        record["product"] = dict(sample["product"], models=[f"PA-{i}-{k}" for k in range(12)])
        out.append((f"bench-{run}-{i}", json.dumps(record, ensure_ascii=False).encode()))
    return out


def _consume(url: str, make: Any, queue: str, expected: int, settings: AmqpSettings) -> Run:
    """Run one batch consumer until `expected` deliveries are acked; time it."""
    latencies: list[float] = []
    state: dict[str, Any] = {"start": None, "end": None}

    def acked(messages: list[Message]) -> None:
        now = time.perf_counter()
        if state["start"] is None:
            state["start"] = min(m.received for m in messages)
        latencies.extend((now - m.received) * 1000 for m in messages)
        if len(latencies) >= expected:
            state["end"] = now
            conn.close()

    def on_channel(ch: Any) -> None:
        worker: BatchConsumer = make(ch, ConfirmingPublisher(ch))
        worker.on_acked = acked
        worker.start()

    def on_open(c: Any) -> None:
        c.channel(on_open_callback=on_channel)

    conn = pika.SelectConnection(
        pika.URLParameters(url),
        on_open_callback=on_open,
        on_close_callback=lambda c, e: c.ioloop.stop(),
    )
    conn.ioloop.start()
    if state["end"] is None:
        raise RuntimeError(f"the {queue} run stopped after {len(latencies)} of {expected} messages")
    return Run(expected, state["end"] - state["start"], latencies)


def ensure_vhost(url: str) -> str:
    from urllib.parse import urlsplit

    from exchange.transports.amqp.provision import _check, _ctl

    if BENCH_VHOST not in _ctl("list_vhosts").stdout.split():
        _check(_ctl("add_vhost", BENCH_VHOST))
    user = urlsplit(url).username or "guest"
    _check(_ctl("set_permissions", "-p", BENCH_VHOST, user, ".*", ".*", ".*"))
    return with_vhost(url, BENCH_VHOST)


def bench_pipeline(
    config: ExchangeConfig, records: int, partner: str = "eu", amqp_url: str | None = None
) -> dict[str, Any]:
    settings = AmqpSettings()
    url = ensure_vhost(amqp_url or settings.url)
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    declare(ch, build_topology(config, [partner]))
    for q in (RELAY_IN, RELAY_OUT):
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum"})
    for q in (INTAKE_QUEUE, work_queue(partner), RELAY_IN, RELAY_OUT):
        ch.queue_purge(q)
    conn.close()
    bodies = _bodies(records)
    kind = "ccc"

    def load(exchange: str, key: str) -> None:
        report = publish_many(
            url,
            (
                Outgoing(exchange, key, b, BasicProperties(delivery_mode=2, message_id=mid, type=kind))
                for mid, b in bodies
            ),
        )
        if report.failed:
            raise RuntimeError(f"could not load the queue: {report.failed[:3]}")

    kw: dict[str, Any] = {
        "prefetch": settings.prefetch,
        "batch_size": settings.batch_size,
        "linger_ms": settings.linger_ms,
    }
    idle_audit, idle_state = open_store("sqlite://"), StateStore("sqlite://")  # the relay writes nothing
    load("", RELAY_IN)
    rabbit = broker_pid()
    relay_cpu = CpuMeter({"main": [os.getpid()], **({"rabbitmq": [rabbit]} if rabbit else {})})
    relay_cpu.start()
    relay = _consume(
        url,
        lambda ch, pub: Relay(
            name="relay",
            queue=RELAY_IN,
            channel=ch,
            publisher=pub,
            audit=idle_audit,
            state=idle_state,
            **kw,
        ),
        RELAY_IN,
        records,
        settings,
    )
    relay_cpu.stop()

    load(DOMESTIC_IN, kind)
    with tempfile.TemporaryDirectory() as tmp:
        audit_url = f"sqlite:///{Path(tmp) / 'bench-audit.db'}"
        store = open_store(audit_url)
        state = StateStore(audit_url)
        ledger = SoapStore(audit_url)  # what `exchange run` also writes per batch:
        archive = DocumentArchive(audit_url)  # certificate statuses, the documents sent
        converter = Converter(config, [partner])
        src = load_source(config)
        pool = _pool(config, partner, settings)
        pipeline_cpu = CpuMeter(
            {
                "main": [os.getpid()],
                "conversion": [p for p in children(os.getpid()) if pool is not None],
                **({"rabbitmq": [rabbit]} if rabbit else {}),
            }
        )
        pipeline_cpu.start()
        pipeline = _consume(
            url,
            lambda ch, pub: IntakeWorker(
                converter=converter,
                source=src,
                name="intake",
                queue=INTAKE_QUEUE,
                channel=ch,
                publisher=pub,
                audit=store,
                state=state,
                pool=pool,
                certificates=ledger,
                archive=archive,
                **kw,
            ),
            INTAKE_QUEUE,
            records,
            settings,
        )
        pipeline_cpu.stop()
        store.close()
        state.close()
        ledger.close()
        archive.close()
        if pool is not None:
            pool.shutdown()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "bench": "pipeline",
        "records": records,
        "partner": partner,
        "documentBytes": _document_size(config, partner, bodies[0][1]),
        "pipelinePerSecond": round(pipeline.rate),
        "relayPerSecond": round(relay.rate),
        "ratio": round(pipeline.rate / relay.rate, 3),
        "pipelineLatencyMs": {
            "p50": round(pipeline.percentile(50), 2),
            "p99": round(pipeline.percentile(99), 2),
        },
        "relayLatencyMs": {"p50": round(relay.percentile(50), 2), "p99": round(relay.percentile(99), 2)},
        "peakMemoryMiB": round(peak / 1024, 1),
        "meanBatchLatencyMs": round(statistics.fmean(pipeline.latencies_ms), 2),
        "cpuMicrosPerRecord": {
            "pipeline": {k: round(v * 1e6 / records, 1) for k, v in pipeline_cpu.used.items()},
            "relay": {k: round(v * 1e6 / records, 1) for k, v in relay_cpu.used.items()},
        },
    }


def _pool(config: ExchangeConfig, partner: str, settings: AmqpSettings) -> Any:
    """The same conversion pool `exchange run` uses (EXCHANGE_AMQP_CONVERT_WORKERS, 0: inline)."""
    if settings.convert_workers <= 0:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from exchange.service.offload import init_worker

    pool = ProcessPoolExecutor(
        settings.convert_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(str(config.path) if config.path else None, [partner]),
    )
    pool.submit(int).result()  # started and initialised before the clock runs
    return pool


def _document_size(config: ExchangeConfig, partner: str, body: bytes) -> int:
    from exchange.registry import partner_format

    record = load_source(config).parse_message(body)
    return len(partner_format(config.partners[partner]).convert(record))
