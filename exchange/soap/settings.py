"""SOAP endpoint settings: environment first (EXCHANGE_SOAP_..., EXCHANGE_PUBLIC_URL), then defaults."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from exchange.xml.safe import MAX_BYTES, MAX_DEPTH, Limits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_PATH = "/soap/v1"
DEFAULT_ENDPOINT = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}{DEFAULT_PATH}"
"""Where `exchange run` serves the endpoint unless told otherwise (partners' simulators call it)."""
PUBLIC_URL_ENV = "EXCHANGE_PUBLIC_URL"


class SoapSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EXCHANGE_SOAP_", extra="ignore", frozen=True, populate_by_name=True
    )

    path: str = DEFAULT_PATH
    max_body_bytes: int = MAX_BYTES
    """Refused (TOO_LARGE) before the body is read; the document inside is smaller still."""
    max_depth: int = 32
    """Nesting of the envelope (the partner document inside is base64 and nests apart)."""
    max_skew_s: int = 300
    """WS-Security Created must be this close to our clock; nonces are kept this long."""
    public_url: str | None = Field(default=None, validation_alias=PUBLIC_URL_ENV)
    """Where partners reach the service (EXCHANGE_PUBLIC_URL, e.g. https://mra.example.cn/gw):
    the served contract's addresses start with it. Default: the address the server listens
    on. Never taken from a request (a Host header is the client's to choose)."""
    threads: int = 16

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else public_base(value)

    def envelope_limits(self) -> Limits:
        return Limits(max_bytes=self.max_body_bytes, max_depth=self.max_depth)

    def document_limits(self) -> Limits:
        return Limits(max_bytes=self.max_body_bytes, max_depth=MAX_DEPTH)


def public_base(value: str) -> str:
    """An http(s) base URL without a trailing slash; ValueError naming EXCHANGE_PUBLIC_URL."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"{PUBLIC_URL_ENV}={value!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{PUBLIC_URL_ENV}={value!r} must be an http(s) URL with a host")
    if parts.query or parts.fragment or parts.username or parts.password or any(c in text for c in "<>\"' "):
        raise ValueError(f"{PUBLIC_URL_ENV}={value!r} must be a plain base URL (no query, fragment or user)")
    return text.rstrip("/")


def parse_address(value: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT) -> (host, port); ValueError when it is not one."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)
