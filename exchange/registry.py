"""Lazily loaded partner formats, sources and transports, kombu-style: named in the
configuration, imported on first use, built once.

A transport is named by the agreement's `transport`: `soap-push` is the object TRANSPORT in
exchange/transports/soap_push/plugin.py (so a transport is added by files, no edit here), or
an import path `module:attr` for one kept outside this package."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from exchange.config import Agreement, ExchangeConfig
from exchange.errors import ConfigError
from exchange.intake import Source
from exchange.partner import PartnerFormat
from exchange.service.transport import Transport

TRANSPORTS = "exchange.transports"

_LEGACY_SOAP = "soap"
"""An agreement written before push and pull were two plug-ins: pull when options.delivery
is "pull", else push."""


@cache
def load_object(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    if not attr:
        raise ConfigError(f"{ref!r} is not an import path of the form module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} for {ref!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no {attr!r} (named by {ref!r})") from None


def partner_format(agreement: Agreement) -> PartnerFormat:
    fmt = load_object(agreement.format)
    if not isinstance(fmt, PartnerFormat):
        raise ConfigError(f"{agreement.format} is not a PartnerFormat (partner {agreement.partner})")
    missing = agreement.families - fmt.families
    if missing:
        raise ConfigError(
            f"agreement {agreement.partner} lists {sorted(missing)} but its format "
            f"{agreement.format} has no documents for them"
        )
    return fmt


def source(config: ExchangeConfig) -> Source:
    obj = load_object(config.source)
    return obj  # type: ignore[no-any-return]


def transport_name(agreement: Agreement) -> str:
    """The plug-in's name for an agreement (the legacy "soap" resolved to push or pull)."""
    if agreement.transport == _LEGACY_SOAP:
        return "soap-pull" if agreement.options.get("delivery") == "pull" else "soap-push"
    return agreement.transport


def transport(name: str) -> Transport:
    """A new instance of the transport plug-in called `name` (or at import path module:attr);
    its module is imported once. The service makes one per transport it runs, so clients and
    circuit breakers live as long as that service."""
    ref = name if ":" in name else f"{TRANSPORTS}.{name.replace('-', '_')}.plugin:TRANSPORT"
    factory = load_object(ref)
    obj = factory() if callable(factory) else None
    if not isinstance(obj, Transport):
        raise ConfigError(f"{ref} does not make a transport (health, prepare, attach, circuits, stop)")
    return obj


def soap_partner(agreement: Agreement) -> bool:
    """The partner has an account on our SOAP endpoint, as its transport says."""
    return transport_for(agreement).soap_endpoint


def pulled(agreement: Agreement) -> bool:
    """The partner fetches its documents from our outbox, as its transport says."""
    return transport_for(agreement).pulled


def transport_for(agreement: Agreement) -> Transport:
    """The agreement's transport, new (see transport)."""
    try:
        return transport(transport_name(agreement))
    except ConfigError as exc:
        raise ConfigError(f"partner {agreement.partner}: transport {agreement.transport!r}: {exc}") from None
