"""`exchange simulate-partner eu --port N [--fault F]`: the EU partner's receiving service
over real HTTP, for demos and tests of outbound SOAP delivery.

The `simulate-partner` command (exchange/amqp/cli.py) dispatches here for partners whose
agreement says transport = "soap"; this module keeps the SOAP side out of the AMQP CLI.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from exchange.errors import ConfigError
from exchange.signing import CERT_FILE, ENV_CERT, KEY_FILE, Signer, generate_key_pair, load_certificate
from exchange.soap.partner_sim import Fault, PartnerEuApp, PartnerSimulator

err = Console(stderr=True, highlight=False, soft_wrap=True)
SIMULATED = frozenset({"eu"})
FAULTS = ", ".join(f.value for f in Fault)


def partner_signer(keys: Path) -> Signer:
    """The partner's receipt-signing pair from `keys`, made there first if it is missing."""
    if not (keys / KEY_FILE).exists():
        generate_key_pair(keys, common_name="eu partner simulator")
    return Signer.from_files(keys / KEY_FILE, keys / CERT_FILE)


def simulate_partner_soap(
    partner: str,
    *,
    port: int,
    fault: str = "none",
    host: str = "127.0.0.1",
    keys: Path = Path("sim-keys/eu"),
    sender_cert: Path | None = None,
    reject_reason: str = "simulated rejection",
    slow_s: float = 5.0,
    stats: Path | None = None,
    ready: Callable[[PartnerSimulator], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve until SIGTERM / SIGINT (or `stop` is set, for callers that embed it); print and
    optionally write the delivery counts. Returns the exit code: 0, or 2 for usage errors."""
    if partner not in SIMULATED:
        err.print(
            f"[red]error:[/] no SOAP simulator for {partner!r} (available: {', '.join(sorted(SIMULATED))})"
        )
        return 2
    try:
        chosen = Fault(fault)
    except ValueError:
        err.print(f"[red]error:[/] unknown fault {fault!r}: {FAULTS}")
        return 2
    try:
        signer = partner_signer(keys)
        cert_path = sender_cert or (Path(os.environ[ENV_CERT]) if os.environ.get(ENV_CERT) else None)
        our_cert = load_certificate(cert_path) if cert_path is not None else None
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    app = PartnerEuApp(signer, our_cert, reject_reason=reject_reason, slow_s=slow_s)
    app.set_fault(chosen)
    try:
        sim = PartnerSimulator(app, host, port)
    except OSError as exc:
        err.print(f"[red]error:[/] cannot listen on {host}:{port}: {exc}")
        return 2
    done = stop or threading.Event()
    if stop is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
    err.print(
        f"playing {partner} at {sim.url}, fault {chosen.value}; receipts signed with "
        f"{keys / CERT_FILE} (the agreement's soap_receipt_certificate); "
        + ("checking our signatures" if our_cert else "not checking our signatures (no --sender-cert)")
    )
    if ready is not None:
        ready(sim)
    done.wait()
    sim.stop()
    counts = json.dumps(sim.stats.as_dict())
    err.print(counts)
    if stats is not None:
        stats.write_text(counts + "\n", encoding="utf-8")
    return 0
