"""Conversion benchmark: synthetic CCC records to each partner format.

Reports records/s with a breakdown (intake, model, map, render, validate), beside a
baseline measured in the same run (alternating timed rounds, the best of each): bare lxml
parse + XSD validation of the very documents the conversion produced (for the JSON-LD
`bri` format: json.loads + the compiled JSON Schema). Then peak memory of a streaming
conversion at two sizes, each in a fresh process.

    python bench/bench_convert.py [--records 100000] [--memory 10000,1000000] [--partners eu,kr,nz,bri]

For `bri` also the credentials as `exchange convert` issues them: version id, status
entries placed in a SQLite status store (batches of 256), the issued fields checked, and a
vc+jwt (ES256) signature: records/s signed, beside the same baseline and the unsigned run.

The last line is JSON for machines.
"""

from __future__ import annotations

import argparse
import copy
import gc
import itertools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 2_000
"""Records converted before the clock starts, for each partner."""
ROUNDS = 3
"""Timed rounds of end to end and of the baseline, alternating; the best of each counts."""
sys.path.insert(0, str(ROOT))


def _ee_categories() -> list[str]:
    """The E&E catalogue codes (every partner takes them), from the domestic code list."""
    from exchange.scope import category_sectors

    return sorted(code for code, sector in category_sectors().items() if sector == "ee")


EE_CATEGORIES = _ee_categories()
STATUSES = ["有效", "暂停", "撤销", "注销", "过期"]


def synthetic_record(i: int, rng: random.Random) -> dict[str, Any]:
    record: dict[str, Any] = copy.deepcopy(_BASE)
    record["certNo"] = f"20{rng.randint(10, 25)}01{rng.choice(EE_CATEGORIES)}{i % 1_000_000:06d}"
    record["certStatus"] = rng.choice(STATUSES)
    record["product"]["category"] = rng.choice(EE_CATEGORIES)
    record["product"]["models"] = [f"M-{i}-{k}" for k in range(rng.randint(1, 6))]
    record["factory"]["country"] = rng.choice(["CN", "CN", "VN", "MY", "TH"])
    record["issueDate"] = rng.choice(["2019-03-01", "2019/3/1", "2019年03月01日"])
    return record


_BASE: dict[str, Any] = json.loads((ROOT / "samples" / "ccc.jsonl").read_text("utf-8").splitlines()[0])


def write_jsonl(path: Path, count: int) -> None:
    rng = random.Random(13)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(count):
            fh.write(json.dumps(synthetic_record(i, rng), ensure_ascii=False))
            fh.write("\n")


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def bench_partner(partner: str, path: Path, count: int) -> dict[str, Any]:
    from adapters.domestic import source
    from exchange.config import load_config
    from exchange.model import Kind, ProductCertificate
    from exchange.pipeline import Converter
    from exchange.registry import partner_format

    config = load_config()
    fmt = partner_format(config.partners[partner])
    converter = Converter(config, [partner])

    # warm-up, untimed: first calls load code lists, country data and lxml's schema state,
    # which a service pays once, not per record (and the first partner would pay them alone)
    for item in itertools.islice(source.read(path), WARMUP):
        if not hasattr(item, "reason"):
            converter.convert(item)  # type: ignore[arg-type]

    # the breakdown, step by step over the whole file: intake + model (the adapter validates
    # the model as it reads), map, validate, render
    t0 = time.perf_counter()
    accepted = [item for item in source.read(path) if not hasattr(item, "reason")]
    t_read = time.perf_counter() - t0
    records = [a.record for a in accepted]  # type: ignore[union-attr]
    dumped = [r.model_dump() for r in records]
    t0 = time.perf_counter()
    for d in dumped:
        ProductCertificate.model_validate(d)
    t_model = time.perf_counter() - t0
    t_intake = max(t_read - t_model, 0.0)
    t0 = time.perf_counter()
    docs = [fmt.map(r) for r in records]
    t_map = time.perf_counter() - t0
    t0 = time.perf_counter()
    for d in docs:
        fmt.validate(Kind.CCC, d)
    t_validate = time.perf_counter() - t0
    t0 = time.perf_counter()
    outputs = [fmt.render(d) for d in docs]
    t_render = time.perf_counter() - t0
    del accepted, records, dumped, docs  # the timed rounds run on a clean heap
    gc.collect()

    def end_to_end() -> int:
        """Read, scope, map, validate, render; nothing written. Documents made."""
        made = 0
        for item in source.read(path):
            if not hasattr(item, "reason"):
                made += len(converter.convert(item).converted)  # type: ignore[arg-type]
        return made

    signed = _signed_run(partner, fmt, converter, source, path) if fmt.issues_credentials else None

    # end to end and the baseline (the same output documents) in alternating rounds, the
    # best of each: what is left of noise from the rest of the machine hits both alike
    baseline = _baseline(partner, fmt, outputs)
    t_e2e = t_base = t_signed = float("inf")
    converted = 0
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        converted = end_to_end()
        t_e2e = min(t_e2e, time.perf_counter() - t0)
        t0 = time.perf_counter()
        baseline(outputs)
        t_base = min(t_base, time.perf_counter() - t0)
        if signed is not None:
            t0 = time.perf_counter()
            signed()
            t_signed = min(t_signed, time.perf_counter() - t0)
    records_count = len(outputs)
    extra: dict[str, Any] = {}
    if signed is not None:
        extra = {
            "signedRecordsPerSecond": round(rate(records_count, t_signed)),
            "signedRatio": round(t_base / t_signed, 3),
            "signedVsUnsigned": round(t_e2e / t_signed, 3),
        }
    return {
        **extra,
        "partner": partner,
        "records": records_count,
        "documents": converted,
        "recordsPerSecond": round(rate(records_count, t_e2e)),
        "baselinePerSecond": round(rate(len(outputs), t_base)),
        "ratio": round(t_base / t_e2e, 3),
        "microsecondsPerRecord": {
            "intake": round(t_intake / count * 1e6, 1),
            "model": round(t_model / count * 1e6, 1),
            "map": round(t_map / count * 1e6, 1),
            "render": round(t_render / count * 1e6, 1),
            "validate": round(t_validate / count * 1e6, 1),
            "endToEnd": round(t_e2e / count * 1e6, 1),
            "baseline": round(t_base / count * 1e6, 1),
        },
    }


def _signed_run(partner: str, fmt: Any, converter: Any, source: Any, path: Path) -> Any:
    """End to end as `convert` issues credentials: convert, then issue in batches of 256
    (a fresh status store per round, so every round allocates), nothing written."""
    from exchange.commands.convert import ISSUE_BATCH
    from exchange.credentials.did import Issuer
    from exchange.credentials.issuer import CredentialIssuer
    from exchange.credentials.keys import CredentialKey, generate_credential_key
    from exchange.credentials.status_store import StatusStore

    work = Path(tempfile.mkdtemp(prefix="bench-signed-"))
    key = CredentialKey.from_file(generate_credential_key(work))
    issuer = Issuer("did:web:localhost%3A8080", "http://localhost:8080")
    rounds = itertools.count()

    def run() -> int:
        store = StatusStore(f"sqlite:///{work / f'status-{next(rounds)}.db'}")
        issuing = CredentialIssuer(issuer, key, store, {partner: fmt})
        made, drafts = 0, []
        for item in source.read(path):
            if not hasattr(item, "reason"):
                drafts.extend(converter.convert(item).converted)
                if len(drafts) >= ISSUE_BATCH:
                    made += sum(1 for x in issuing.issue(drafts) if getattr(x, "jwt", None))
                    drafts = []
        made += sum(1 for x in issuing.issue(drafts) if getattr(x, "jwt", None))
        issuing.publish_lists()
        store.close()
        return made

    run()  # warm-up (imports, key, first statements)
    return run


def _baseline(partner: str, fmt: Any, outputs: list[bytes]) -> Any:
    if fmt.suffix == ".xml":
        from exchange.model import Kind

        schema = fmt._family(Kind.CCC).schema._schema  # the same compiled XSD
        parser = etree.XMLParser(resolve_entities=False, no_network=True)

        def run(docs: list[bytes]) -> None:
            for d in docs:
                if not schema.validate(etree.fromstring(d, parser)):
                    raise SystemExit("baseline: invalid document")

        return run
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "bri" / "ccc-credential-1.1.json").read_text("utf-8"))
    if fmt.issues_credentials:  # the outputs are drafts: status entries come with issuing
        from exchange.formats.jsonld import ISSUED_FIELDS

        schema["required"] = [r for r in schema["required"] if r not in ISSUED_FIELDS]
    validator = jsonschema.Draft202012Validator(schema)

    def run_json(docs: list[bytes]) -> None:
        for d in docs:
            validator.validate(json.loads(d))

    return run_json


def peak_memory_child(path: str, partner: str) -> None:
    """Stream-convert a file for one partner, nothing kept; print peak RSS in KiB."""
    from adapters.domestic import source
    from exchange.config import load_config
    from exchange.pipeline import Converter

    converter = Converter(load_config(), [partner])
    n = 0
    for item in source.read(Path(path)):
        if not hasattr(item, "reason"):
            n += len(converter.convert(item).converted)  # type: ignore[arg-type]
    print(json.dumps({"documents": n, "maxrssKiB": _peak_rss_kib()}))


def _peak_rss_kib() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries
    ru_maxrss across fork+exec, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_memory(sizes: list[int], partner: str, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for size in sizes:
        path = workdir / f"mem-{size}.jsonl"
        write_jsonl(path, size)
        result = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(path), "--partners", partner],
            capture_output=True,
            text=True,
            check=True,
        )
        out[str(size)] = json.loads(result.stdout.strip().splitlines()[-1])
        path.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--partners", default="eu,kr,nz,bri")
    parser.add_argument(
        "--memory", default="10000,1000000", help="sizes for the peak-memory runs ('' to skip)"
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    partners = [p for p in args.partners.split(",") if p]
    if args.memory_child:
        peak_memory_child(args.memory_child, partners[0])
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / "ccc.jsonl"
        write_jsonl(path, args.records)
        results = [bench_partner(p, path, args.records) for p in partners]
        for r in results:
            us = r["microsecondsPerRecord"]
            print(
                f"{r['partner']:>4}: {r['recordsPerSecond']:>7,} records/s  "
                f"baseline {r['baselinePerSecond']:>7,}/s  ratio {r['ratio']:.2f}  | "
                f"µs/record intake {us['intake']} model {us['model']} map {us['map']} "
                f"render {us['render']} validate {us['validate']} (baseline {us['baseline']})"
            )
            if "signedRecordsPerSecond" in r:
                print(
                    f"{r['partner'] + '+jwt':>8}: {r['signedRecordsPerSecond']:>7,} records/s signed ("
                    f"vc+jwt, status entries)  ratio {r['signedRatio']:.2f} against the baseline, "
                    f"{r['signedVsUnsigned']:.2f} of unsigned"
                )
        memory: dict[str, Any] = {}
        sizes = [int(s) for s in args.memory.split(",") if s]
        if sizes:
            memory = measure_memory(sizes, partners[0], work)
            peaks = [memory[str(s)]["maxrssKiB"] for s in sizes]
            print(
                f"peak RSS streaming to {partners[0]}: "
                + ", ".join(f"{s:,} records {p / 1024:.1f} MiB" for s, p in zip(sizes, peaks, strict=True))
                + f"; ratio {peaks[-1] / peaks[0]:.2f}"
            )
            memory["ratio"] = round(peaks[-1] / peaks[0], 3)
        print(
            json.dumps({"bench": "convert", "records": args.records, "partners": results, "memory": memory})
        )


if __name__ == "__main__":
    main()
