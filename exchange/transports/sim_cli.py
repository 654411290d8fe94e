"""`exchange simulate-partner P --port N [--fault F]`: any SOAP partner's side over real
HTTP, for demos and tests, as its agreement says. A push partner (soap_outbound_url, e.g.
eu, no) is a receiving service implementing its contract (its own WSDL, or the neutral
partner-receive-1.0.wsdl, see exchange/transports/soap_push/receive_contract.py); a pull partner
(delivery = "pull", e.g. nz, jp) is a client that pulls from our endpoint, and submits its
own records with --publish.

The `simulate-partner` command (exchange/service/cli.py) dispatches here for partners whose
transport has an account on our SOAP endpoint (soap, soap-push, soap-pull).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from exchange.config import Agreement, ExchangeConfig, load_config
from exchange.errors import ConfigError
from exchange.registry import partner_format, pulled, soap_partner
from exchange.signing import CERT_FILE, ENV_CERT, KEY_FILE, Signer, generate_key_pair, load_certificate
from exchange.soap.credentials import partner_credential, username_of
from exchange.soap.settings import DEFAULT_ENDPOINT
from exchange.transports.soap_pull.simulator import PullFault, PullPartner, PullSimulator
from exchange.transports.soap_push.receive_contract import contract_of
from exchange.transports.soap_push.simulator import Fault, PartnerEuApp, PartnerSimulator

err = Console(stderr=True, highlight=False, soft_wrap=True)
SIM_KEYS = Path("sim-keys")
"""The default key pair folder of a simulated push partner is sim-keys/<partner>."""


def partner_signer(keys: Path, partner: str = "the") -> Signer:
    """The partner's signing pair from `keys`, made there first if it is missing."""
    if not (keys / KEY_FILE).exists():
        generate_key_pair(keys, common_name=f"{partner} partner simulator")
    return Signer.from_files(keys / KEY_FILE, keys / CERT_FILE)


def simulate_partner_soap(
    partner: str,
    *,
    port: int,
    fault: str = "none",
    host: str = "127.0.0.1",
    keys: Path | None = None,
    sender_cert: Path | None = None,
    reject_reason: str = "simulated rejection",
    slow_s: float = 5.0,
    stats: Path | None = None,
    ready: Callable[[Any], None] | None = None,
    stop: threading.Event | None = None,
    config: ExchangeConfig | None = None,
    endpoint: str = DEFAULT_ENDPOINT,
    username: str | None = None,
    secret_file: Path | None = None,
    interval_s: float = 1.0,
    publish: Sequence[Path] = (),
) -> int:
    """Play `partner` until SIGTERM / SIGINT (or `stop` is set, for callers that embed it);
    print and optionally write the counts. A push partner serves on `port`; a pull partner
    pulls from `endpoint` and serves its control page on `port` (or, with `publish`, submits
    those documents and returns). Returns the exit code: 0, 1 when a document was not
    accepted, 2 for usage."""
    cfg = config or load_config()
    agreement = cfg.partners.get(partner)
    if agreement is None or not soap_partner(agreement):
        soap = sorted(p for p, a in cfg.partners.items() if soap_partner(a))
        err.print(f"[red]error:[/] no SOAP partner {partner!r} in the agreements (SOAP: {', '.join(soap)})")
        return 2
    pull = pulled(agreement)
    faults: type[Fault] | type[PullFault] = PullFault if pull else Fault
    try:
        chosen = faults(fault)
    except ValueError:
        err.print(
            f"[red]error:[/] unknown fault {fault!r} for {partner}: {', '.join(f.value for f in faults)}"
        )
        return 2
    if publish and not pull:
        err.print("[red]error:[/] --publish is for partners that send us records (over AMQP, or pulling)")
        return 2
    try:
        cert_path = sender_cert or (Path(os.environ[ENV_CERT]) if os.environ.get(ENV_CERT) else None)
        our_cert = load_certificate(cert_path) if cert_path is not None else None
        if not pull:
            folder = cfg.path.parent if cfg.path else None
            keys = keys or SIM_KEYS / partner
            sim: Any = _receiver(agreement, folder, keys, our_cert, Fault(chosen), host, port, reject_reason,
                                 slow_s)  # fmt: skip
            playing = (
                f"playing {partner} at {sim.url} ({sim.app.contract.wsdl.name}), fault {chosen.value}; "
                f"receipts signed with {keys / CERT_FILE} (the agreement's soap_receipt_certificate); "
                + (
                    "checking our signatures"
                    if our_cert
                    else "not checking our signatures (no --sender-cert)"
                )
            )
        else:
            puller = _pull_partner(cfg, partner, endpoint, username, secret_file, keys, our_cert,
                                   reject_reason, slow_s)  # fmt: skip
            if publish:
                return _submit(puller, partner, publish)
            puller.set_fault(chosen)
            sim = PullSimulator(puller, host, port, interval_s=interval_s)
            playing = (
                f"playing {partner}: pulling from {endpoint} every {interval_s:g} s, fault {chosen.value}; "
                f"counts and faults at {sim.url} (GET /stats, POST /fault?set=NAME)"
            )
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    except OSError as exc:
        err.print(f"[red]error:[/] cannot listen on {host}:{port}: {exc}")
        return 2
    done = stop or threading.Event()
    if stop is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
    err.print(playing)
    if ready is not None:
        ready(sim)
    done.wait()
    sim.stop()
    counts = json.dumps(sim.stats.as_dict())
    err.print(counts)
    if stats is not None:
        stats.write_text(counts + "\n", encoding="utf-8")
    return 0


def _receiver(
    agreement: Agreement,
    folder: Path | None,
    keys: Path,
    our_cert: bytes | None,
    fault: Fault,
    host: str,
    port: int,
    reject_reason: str,
    slow_s: float,
) -> PartnerSimulator:
    """The partner's receiving service, speaking the contract its agreement chooses."""
    partner = agreement.partner
    app = PartnerEuApp(
        partner_signer(keys, partner),
        our_cert,
        reject_reason=reject_reason,
        slow_s=slow_s,
        contract=contract_of(agreement, folder),
        path=f"/{partner}/receive",
        name=partner,
    )
    app.set_fault(fault)
    return PartnerSimulator(app, host, port)


def _pull_partner(
    config: ExchangeConfig,
    partner: str,
    endpoint: str,
    username: str | None,
    secret_file: Path | None,
    keys: Path | None,
    our_cert: bytes | None,
    reject_reason: str,
    slow_s: float,
) -> PullPartner:
    """The pulling client with the credentials its agreement configures (the shared secret
    our endpoint checks), or the secret in `secret_file`; signing submissions with `keys`."""
    agreement = config.partners.get(partner)
    if agreement is None or not soap_partner(agreement):
        raise ConfigError(f"the agreements have no {partner} partner over SOAP")
    if secret_file is not None:
        try:
            secret = secret_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"--secret-file: {exc}") from None
    else:
        credential = partner_credential(config, partner)
        if credential is None or credential.secret is None:
            raise ConfigError(
                f"no SOAP secret for {partner}: set soap_secret_env or soap_secret_file in "
                f"[partners.{partner}.options] (see exchange/soap/credentials.py), or give --secret-file"
            )
        secret = credential.secret.decode("utf-8")
    return PullPartner(
        endpoint,
        username or username_of(agreement),
        secret,
        partner_format(agreement),
        our_cert=our_cert,
        signer=None if keys is None else partner_signer(keys, partner),
        reject_reason=reject_reason,
        slow_s=slow_s,
    )


def _submit(puller: PullPartner, partner: str, files: Sequence[Path]) -> int:
    try:
        documents = [path.read_bytes() for path in files]
    except OSError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    try:
        accepted = puller.submit(documents)
    finally:
        puller.close()
    err.print(
        f"submitted {len(accepted)} of {len(documents)} {partner} records: {', '.join(accepted) or 'none'}"
    )
    counts = puller.counts()
    if counts["errors"]:
        err.print(f"refused: {json.dumps(counts['error_codes'])}")
    return 0 if len(accepted) == len(documents) else 1
