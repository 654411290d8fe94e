"""Outbound settings from an agreement's options, and the retry schedules an agreement may
choose (constant or progressive)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exchange.config import Agreement
from exchange.errors import ConfigError
from exchange.signing import KeyPairFiles, Signer
from exchange.transports.soap_push.outbound import Outcome, build_client, retry_schedule
from exchange.transports.soap_push.simulator import PartnerEuApp, PartnerSimulator
from tests.soap.test_outbound_support import DOCUMENT


def agreement(**options: str | int | float | bool) -> Agreement:
    return Agreement(
        partner="eu", name="EU", format="adapters.eu:format", families=frozenset({"ccc"}), transport="soap",
        options=options,
    )  # fmt: skip


def test_build_client_from_options(
    tmp_path: Path,
    our_keys: KeyPairFiles,
    partner_keys: dict[str, KeyPairFiles],
    partner_signers: dict[str, Signer],
) -> None:
    for name, source in (("eu-cert.pem", partner_keys["eu"].certificate), ("our-key.pem", our_keys.key),
                         ("our-cert.pem", our_keys.certificate)):  # fmt: skip
        shutil.copy(source, tmp_path / name)
    with PartnerSimulator(PartnerEuApp(partner_signers["eu"], our_keys.certificate.read_bytes())) as sim:
        client = build_client(
            agreement(
                soap_outbound_url=sim.url, soap_certificate="eu-cert.pem", soap_signing_key="our-key.pem",
                soap_signing_cert="our-cert.pem", soap_timeout_s=2.5, soap_breaker_failures=2,
            ),
            folder=tmp_path,
            audit_url=f"sqlite:///{tmp_path / 'audit.db'}",
        )  # fmt: skip
        try:
            assert (client.settings.timeout_s, client.breaker.threshold) == (2.5, 2)
            assert (
                client.send(DOCUMENT, message_id="m-1", conversation_id="c").outcome is Outcome.ACKNOWLEDGED
            )
        finally:
            client.close()


def test_missing_options_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="soap_outbound_url"):
        build_client(agreement(soap_certificate="x.pem"), folder=tmp_path)
    with pytest.raises(ConfigError, match="cannot read certificate"):
        build_client(
            agreement(soap_outbound_url="http://127.0.0.1:9/", soap_certificate="x.pem"), folder=tmp_path
        )


def test_retry_schedules() -> None:
    assert retry_schedule("constant", 60, 3) == (60, 60, 60)
    assert retry_schedule("progressive", 10, 5, factor=3) == (10, 30, 90, 270, 810)
    assert retry_schedule("progressive", 600, 4, cap_s=1800) == (600, 1200, 1800, 1800)
    with pytest.raises(ConfigError):
        retry_schedule("random", 10, 3)
    with pytest.raises(ConfigError):
        retry_schedule("constant", 0, 3)
