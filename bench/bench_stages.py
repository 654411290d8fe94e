"""CPU per record of each stage `exchange run` goes through, measured in one process with
no broker: what 1,000 records/s on two cores has to fit in.

    python bench/bench_stages.py [--records 3000] [--partners kr,bri]

Each stage runs over the same records as the service's workers run it (batches of
`--batch`), timed with the process CPU clock (time.process_time), so a busy machine
slows the wall clock but changes the figures little. Stages, per record:

- conversion process: `convert_jobs` (parse, convert per partner, issue credentials)
  and, split out, the parse and each partner's map/validate/render;
- crossing processes: pickling the outcomes and unpickling them (the main loop pays that);
- main loop: the audit entries of the intake, as `IntakeWorker._apply` appends them;
- commit thread: audit flush (all entries of a record's path: 13 for kr + bri), the
  document archive, the delivery states (put and get);
- AMQP framing in pika, without a socket: a publish marshalled, a delivery decoded.

The last line is JSON for machines ({"cpuMicrosPerRecord": {stage: µs}}).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENTRIES_PER_RECORD = 13
"""kr + bri: RECEIVED, CONVERTED x2, VALIDATED x2, SIGNED, SEND_ENQUEUED x2, SEND_IN_PROGRESS x2,
WAITING_FOR_RECEIPT, ACKNOWLEDGED x2."""


def cpu_us(fn: Callable[[], Any], per: int, rounds: int = 3) -> float:
    """µs of process CPU per item of `fn()` (which handles `per` items), best of `rounds`."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best * 1e6 / per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--partners", default="kr,bri")
    args = ap.parse_args()
    partners = args.partners.split(",")

    from pika import frame, spec
    from pika.spec import BasicProperties

    from exchange.archive import Archived, DocumentArchive, Kind
    from exchange.audit import AuditEntry, AuditEvent, open_store
    from exchange.config import load_config
    from exchange.intake import Accepted
    from exchange.model import Kind as RecordKind
    from exchange.service.bench_e2e import domestic_bodies
    from exchange.service.offload import SOURCE, Job, _worker, convert_jobs, init_worker
    from exchange.state import Delivery, State, StateStore

    out: dict[str, float] = {}
    tmp = Path(tempfile.mkdtemp(prefix="mra-stages-"))
    config = load_config(None)
    init_worker(str(config.path), partners, f"sqlite:///{tmp / 'status.db'}")
    n, b = args.records, args.batch
    bodies = domestic_bodies(n * 4 + 200)
    batches: list[list[Job]] = []
    for i in range(0, len(bodies), b):
        batches.append([Job(mid, "ccc", None, body) for mid, body in bodies[i : i + b]])
    convert_jobs(batches[0])  # warm-up: code lists, lxml state, the status store
    rounds = iter(range(1, len(batches)))

    def conversion() -> list[Any]:
        done = []
        for _ in range(n // b):
            done.extend(convert_jobs(batches[next(rounds)]))
        return done

    out["conversion.convert_jobs"] = cpu_us(conversion, n)
    outcomes = conversion()

    # the conversion's parts, on records parsed once
    source, converter = _worker["source"], _worker["converter"]
    sample = [job for batch in batches[1 : 1 + n // b] for job in batch]

    def parse() -> list[Any]:
        return [source.parse_message(j.body, kind=RecordKind(j.kind), source=SOURCE) for j in sample]

    out["conversion.parse"] = cpu_us(parse, n)
    records = parse()
    for route in converter.routes:
        fmt = route.format
        docs = [fmt.map(r) for r in records]
        name = f"conversion.{route.agreement.partner}"
        out[f"{name}.map"] = cpu_us(lambda fmt=fmt: [fmt.map(r) for r in records], n)
        out[f"{name}.validate"] = cpu_us(
            lambda fmt=fmt, docs=docs: [fmt.validate(RecordKind.CCC, d) for d in docs], n
        )
        out[f"{name}.render"] = cpu_us(lambda fmt=fmt, docs=docs: [fmt.render(d) for d in docs], n)
    out["conversion.converter.convert"] = cpu_us(
        lambda: [converter.convert(Accepted(r, SOURCE, "m")) for r in records], n
    )

    # crossing processes
    chunks = [outcomes[i : i + b] for i in range(0, len(outcomes), b)]
    pickled = [pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL) for c in chunks]
    out["pickle.dumps"] = cpu_us(
        lambda: [pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL) for c in chunks], n
    )
    out["pickle.loads"] = cpu_us(lambda: [pickle.loads(p) for p in pickled], n)
    out["pickle.bytesPerRecord"] = sum(len(p) for p in pickled) / n

    # the audit trail, the archive, the states (SQLite in a temporary folder, as bench e2e)
    url = f"sqlite:///{tmp / 'audit.db'}"
    store = open_store(url)
    entries = [
        AuditEntry(
            AuditEvent.CONVERTED,
            message_id=o.conversion.record_id + "-m",
            record_id=o.conversion.record_id,
            partner="kr",
            doc_sha256="ab" * 32,
            details={"kind": "ccc"},
        )
        for o in outcomes
    ]
    many = entries * ENTRIES_PER_RECORD

    def append() -> None:
        for e in many:
            store.append(e)
        store._pending.clear()

    out["mainloop.audit.append x13"] = cpu_us(append, n)

    def append_flush() -> None:
        for i, e in enumerate(many):
            store.append(e)
            if i % (b * ENTRIES_PER_RECORD) == 0:
                store.flush()
        store.flush()

    out["commit.audit.append+flush x13"] = cpu_us(append_flush, n, rounds=1)
    archive = DocumentArchive(url)
    docs_out = [
        Archived(c.partner, f"{c.record_id}-{i}", Kind.DOCUMENT, c.sha256, c.media_type, c.document)
        for i, o in enumerate(outcomes)
        for c in o.conversion.converted
    ]
    k = iter(range(10**9))

    def archive_put() -> None:
        tag = next(k)
        for i in range(0, len(docs_out), b * len(partners)):
            archive.put_many(
                Archived(a.partner, f"{a.message_id}-{tag}", a.kind, a.sha256, a.content_type, a.body)
                for a in docs_out[i : i + b * len(partners)]
            )

    out["commit.archive.put (documents)"] = cpu_us(archive_put, n)
    state = StateStore(url)
    rows = [Delivery(p, f"m{i}", "ab" * 32, 0, State.SENT) for i in range(n) for p in partners]

    def states() -> None:
        for i in range(0, len(rows), b):
            state.put_many(rows[i : i + b])
        for p in partners:
            ids = [f"m{i}" for i in range(n)]
            for i in range(0, n, b):
                state.get_many(p, ids[i : i + b])

    out["commit.state.put+get"] = cpu_us(states, n)

    # AMQP framing in pika (no socket): per message, not per record
    doc = outcomes[0].conversion.converted[-1].document
    props = BasicProperties(
        delivery_mode=2,
        message_id="e2e-0000",
        type="ccc",
        content_type="application/ld+json",
        headers={"partner": "bri", "record-id": "2019010907000001", "sha256": "ab" * 32, "attempt": 0},
    )

    def marshal() -> list[bytes]:
        made = []
        for _ in range(n):
            made.append(
                frame.Method(1, spec.Basic.Publish(exchange="mra.outbound", routing_key="bri")).marshal()
            )
            made.append(frame.Header(1, len(doc), props).marshal())
            made.append(frame.Body(1, doc).marshal())
        return made

    out["pika.publish marshal (per message)"] = cpu_us(marshal, n)
    wire = b"".join(
        [
            frame.Method(1, spec.Basic.Deliver("ctag", 1, False, "mra.outbound", "bri")).marshal(),
            frame.Header(1, len(doc), props).marshal(),
            frame.Body(1, doc).marshal(),
        ]
    )

    def decode() -> None:
        for _ in range(n):
            data, at = wire, 0
            while at < len(data):
                used, _f = frame.decode_frame(data[at:])
                at += used

    out["pika.delivery decode (per message)"] = cpu_us(decode, n)
    store.close()
    archive.close()
    state.close()
    for line in sorted(out.items()):
        print(f"{line[0]:<40} {line[1]:>9,.1f}")
    print(
        json.dumps(
            {
                "bench": "stages",
                "records": n,
                "partners": partners,
                "cpuMicrosPerRecord": {k: round(v, 1) for k, v in out.items()},
                "loadAverage": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
