"""Partner health with a reason: what an operator needs to know about each partner, in one
word and one line, the same in `exchange status`, the console, /readyz, metrics and logs.

- not_configured: the service cannot deliver at all (no endpoint, no credentials, no vhost);
- stalled: messages wait and nothing moves them (no consumer, breaker open, oldest message
  older than the agreement's `stall_after_s`, default an hour);
- degraded: deliveries go, but some fail or wait to retry, or dead letters wait;
- healthy: none of those.

Decided from the agreement (transport and options: no partner names here) and the status
figures, so tests give it plain numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from exchange.config import Agreement, ExchangeConfig
from exchange.errors import ConfigError
from exchange.registry import pulled, soap_partner

DEFAULT_STALL_AFTER_S = 3600.0


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    STALLED = "stalled"
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True, slots=True)
class PartnerHealth:
    health: Health
    reason: str

    @property
    def can_deliver(self) -> bool:
        return self.health is not Health.NOT_CONFIGURED


def pulls(agreement: Agreement) -> bool:
    """The partner fetches its documents from our outbox (rather than us pushing)."""
    return pulled(agreement)


def vhost_of(agreement: Agreement) -> str:
    return str(agreement.options.get("vhost", f"mra-{agreement.partner}"))


def configuration_problem(
    config: ExchangeConfig,
    partner: str,
    *,
    vhost_exists: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> str | None:
    """Why the service cannot deliver to `partner` at all, or None. `vhost_exists` is the
    broker's answer for a partner with its own vhost (None: not asked)."""
    agreement = config.partners[partner]
    opts = agreement.options
    if soap_partner(agreement):
        from exchange.soap.credentials import partner_credential

        if pulls(agreement):
            try:
                credential = partner_credential(config, partner, os.environ if env is None else env)
            except ConfigError as exc:
                return f"its SOAP credentials cannot be read: {exc}"
            if credential is None:
                return (
                    f"no SOAP credentials for {partner} to pull with: set soap_secret_env, soap_secret_file"
                    f" or soap_password_hash in partners.{partner}.options"
                )
            return None
        missing = [k for k in ("soap_outbound_url",) if not opts.get(k)]
        if not opts.get("soap_receipt_certificate") and not opts.get("soap_certificate"):
            missing.append("soap_receipt_certificate")
        if missing:
            return (
                f"no {' or '.join(missing)} in partners.{partner}.options: its documents wait in"
                f" mra.{partner}.work"
            )
        return None
    if agreement.transport == "file" and not opts.get("drop_directory"):
        return (
            f"no drop_directory in partners.{partner}.options: exchange run leaves its documents in"
            f" mra.{partner}.work (exchange convert writes them to files)"
        )
    if agreement.transport == "amqp" and vhost_exists is False:
        return (
            f"vhost {vhost_of(agreement)} not found on the broker: run exchange provision --partner {partner}"
        )
    return None


@dataclass(frozen=True, slots=True)
class Figures:
    """What status knows about one partner's deliveries (None: unknown)."""

    work_queue: str
    backlog: int = 0
    """Work queue plus retry queues."""
    retrying: int = 0
    consumers: int | None = None
    dead_letters: int = 0
    failed_last_hour: int | None = None
    oldest_age_s: float | None = None
    breaker: str | None = None


def assess(agreement: Agreement, figures: Figures, problem: str | None = None) -> PartnerHealth:
    """One partner's health: the worst that applies, with its reason."""
    if problem is not None:
        return PartnerHealth(Health.NOT_CONFIGURED, problem)
    f = figures
    limit = float(agreement.options.get("stall_after_s", DEFAULT_STALL_AFTER_S))
    if f.breaker == "open":
        return PartnerHealth(Health.STALLED, "circuit breaker open: the partner failed too often in a row")
    waiting = f.backlog - f.retrying
    if waiting > 0 and f.consumers == 0:
        return PartnerHealth(
            Health.STALLED,
            f"{waiting} messages in {f.work_queue} and no consumer: is exchange run delivering?",
        )
    if f.oldest_age_s is not None and f.oldest_age_s > limit:
        return PartnerHealth(
            Health.STALLED,
            f"oldest undelivered message is {_age(f.oldest_age_s)} old (limit {_age(limit)})",
        )
    reasons = []
    if f.failed_last_hour:
        reasons.append(f"{f.failed_last_hour} failed deliveries in the last hour")
    if f.retrying:
        reasons.append(f"{f.retrying} messages waiting to retry")
    if f.dead_letters:
        reasons.append(f"{f.dead_letters} dead letters")
    if f.breaker == "half-open":
        reasons.append("circuit breaker half-open (trying again)")
    if reasons:
        return PartnerHealth(Health.DEGRADED, "; ".join(reasons))
    if f.backlog:
        return PartnerHealth(Health.HEALTHY, f"delivering: {f.backlog} messages in {f.work_queue}")
    return PartnerHealth(Health.HEALTHY, "nothing waiting")


def _age(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h"
