"""Norway and Japan, the work plan's partners, end to end through `exchange run` with their
simulators, from their shipped agreements (only deployment options added: where Norway
listens and its certificate, Japan's shared secret). Norway (E&E product certificates) is
pushed over SOAP to `exchange simulate-partner no`, a receiving service implementing the
neutral contract partner-receive-1.0.wsdl; Japan (PT rounds only) pulls its documents from
our endpoint with `exchange simulate-partner jp`. Each record is published, delivered and
ACKNOWLEDGED once in the audit."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from exchange.resources import adapters_path
from exchange.signing import ENV_CERT, ENV_KEY, generate_key_pair
from tests.amqp.isolated import World, domestic_messages, publish_domestic, reset_topology
from tests.soap.partner_processes import (
    agreement_toml,
    logs,
    settled,
    simulate,
    stop,
    trails,
    wait_for,
    wait_http,
)
from tests.soap.running import free_port

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = tomllib.loads(adapters_path("agreements.toml").read_text("utf-8"))["partners"]
HEAD = 'source = "adapters.domestic:source"\ncategories = "domestic/categories.toml"\n'


def pt_rounds(prefix: str, count: int) -> list[tuple[str, bytes]]:
    """`count` distinct PT rounds (the shipped sample, one round code each)."""
    sample = json.loads((ROOT / "samples" / "pt-round.json").read_text("utf-8"))
    return [
        (f"{prefix}-{i}", json.dumps({**sample, "round": f"2026-{i + 1:02d}"}, ensure_ascii=False).encode())
        for i in range(count)
    ]


def test_norway_pushed_and_japan_pulled_each_record_acknowledged_once(world: World) -> None:
    assert (SHIPPED["no"]["transport"], SHIPPED["jp"]["transport"]) == ("soap-push", "soap-pull")
    ours = generate_key_pair(world.root / "ours")
    sim_port, http_port = free_port(), free_port()
    no_keys = world.root / "sim-keys" / "no"
    (world.root / "jp.secret").write_text("jp-shared-secret-0123456789\n", encoding="utf-8")
    config = world.root / "plan.toml"
    config.write_text(
        HEAD
        + agreement_toml(
            "no",
            {**SHIPPED["no"], "retry_seconds": [1, 1]},
            soap_outbound_url=f"http://127.0.0.1:{sim_port}/no/receive",
            soap_receipt_certificate=str(no_keys / "signing-cert.pem"),
            soap_timeout_s=10,
        )
        + agreement_toml("jp", {**SHIPPED["jp"], "retry_seconds": [1, 1]}, soap_secret_file="jp.secret"),
        encoding="utf-8",
    )
    from exchange.config import load_config

    reset_topology(world, load_config(config))
    world.extra_configs.append(config)
    env = {"EXCHANGE_CONFIG": str(config), ENV_KEY: str(ours.key), ENV_CERT: str(ours.certificate)}

    generate_key_pair(no_keys, common_name="no partner simulator")  # as `simulate-partner no` would
    world.start_service(env=env, http=f"127.0.0.1:{http_port}")
    world.wait_for_consumers("mra.no.work")
    world.wait_for_consumers("mra.jp.work")
    no_sim = simulate(
        world, "no", "--port", str(sim_port), "--keys", str(no_keys), "--sender-cert", str(ours.certificate),
        "--stats", str(world.root / "no-stats.json"), env=env,
    )  # fmt: skip
    wait_http(f"http://127.0.0.1:{sim_port}/no/receive?wsdl", no_sim, world.root / "sim-no.log")
    jp_sim = simulate(
        world, "jp", "--endpoint", f"http://127.0.0.1:{http_port}/soap/v1", "--port", str(free_port()),
        "--interval", "0.2", "--sender-cert", str(ours.certificate),
        "--stats", str(world.root / "jp-stats.json"), env=env,
    )  # fmt: skip

    certificates, rounds = domestic_messages("plan-ccc", 6), pt_rounds("plan-pt", 3)
    publish_domestic(world.url, certificates)
    publish_domestic(world.url, rounds, kind="pt")

    def done(partner: str, n: int) -> bool:
        return sum(1 for s in settled(world, partner).values() if s) >= n

    wait_for("6 no + 3 jp settled", lambda: done("no", 6) and done("jp", 3), logs=lambda: logs(world))
    assert stop(no_sim) == 0 and stop(jp_sim) == 0
    no_settled, jp_settled = settled(world, "no"), settled(world, "jp")
    assert no_settled == {mid: ["ACKNOWLEDGED"] for mid, _ in certificates}, trails(world, "no")
    assert jp_settled == {mid: ["ACKNOWLEDGED"] for mid, _ in rounds}, trails(world, "jp")
    # Norway takes certificates only, Japan PT rounds only (the agreements' families)
    assert not set(no_settled) & {mid for mid, _ in rounds}
    no_counts = json.loads((world.root / "no-stats.json").read_text("utf-8"))
    jp_counts = json.loads((world.root / "jp-stats.json").read_text("utf-8"))
    assert (no_counts["messages"], no_counts["acknowledged"], no_counts["duplicates"]) == (6, 6, 0), no_counts
    assert no_counts["rejected"] == 0 and no_counts["wss_verified"] == no_counts["requests"], no_counts
    assert (jp_counts["pulled"], jp_counts["acknowledged"]["ok"], jp_counts["errors"]) == (3, 3, 0), jp_counts
    print(f"\nno: {no_counts}\njp: {jp_counts}")
