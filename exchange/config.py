"""Configuration: agreements per partner (data, not code) and service settings.

The shipped agreements live in `adapters/agreements.toml`; `EXCHANGE_CONFIG` or
`--config` points at another file. Adding a partner is an entry there plus its
adapter, mappings and schemas: nothing in `exchange/` changes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exchange.errors import ConfigError
from exchange.model import Kind
from exchange.resources import adapters_path

DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"


class FamilyScope(BaseModel):
    """Narrows a family inside an agreement, e.g. only E&E product categories."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sectors: frozenset[str] | None = None
    categories: frozenset[str] | None = None


_TRANSPORT_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_LEGACY_TRANSPORTS = {"soap": "soap-push"}
"""Before push and pull were two plug-ins an agreement said "soap" (pull: options.delivery)."""


class Agreement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partner: str
    name: str
    format: str = Field(description="import path of the partner's format object, module:attr")
    families: frozenset[Kind]
    transport: str = Field(
        default="file",
        description=(
            "the transport plug-in carrying the partner's documents: a name under exchange/transports"
            " (amqp, soap-push, soap-pull, stream, file; soap is push, or pull with options.delivery"
            ' = "pull") or an import path module:attr (exchange.registry.transport_for)'
        ),
    )
    public_only: bool = False
    scope: dict[Kind, FamilyScope] = Field(default_factory=dict)
    retry_seconds: tuple[int, ...] = (10, 60, 300, 1800)
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("transport")
    @classmethod
    def _known_transport(cls, value: str) -> str:
        """A misspelt transport fails when the configuration loads, not when the service starts."""
        if ":" in value:
            return value  # an import path: checked when the registry loads it
        if not _TRANSPORT_NAME.fullmatch(value):
            raise ValueError(f"transport {value!r} is not a name like soap-push or module:attr")
        package = "exchange.transports." + _LEGACY_TRANSPORTS.get(value, value).replace("-", "_")
        if importlib.util.find_spec(package) is None:
            raise ValueError(f"unknown transport {value!r}: no package {package}")
        return value


class ExchangeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = "adapters.domestic:source"
    categories: str = "domestic/categories.toml"
    partners: dict[str, Agreement]
    path: Path | None = None


def default_config_path() -> Path:
    env = os.environ.get("EXCHANGE_CONFIG")
    return Path(env) if env else adapters_path("agreements.toml")


@cache
def load_config(path: Path | None = None) -> ExchangeConfig:
    path = path or default_config_path()
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    partners = raw.get("partners", {})
    for key, entry in partners.items():
        if isinstance(entry, dict):
            entry.setdefault("partner", key)
    try:
        return ExchangeConfig.model_validate({**raw, "path": path})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
