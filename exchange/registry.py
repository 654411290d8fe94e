"""Lazily loaded partner formats and sources, kombu-style: named by import path in the
configuration, imported on first use, built once."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from exchange.config import Agreement, ExchangeConfig
from exchange.errors import ConfigError
from exchange.intake import Source
from exchange.partner import PartnerFormat


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
