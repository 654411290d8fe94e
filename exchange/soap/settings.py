"""SOAP endpoint settings: environment first (EXCHANGE_SOAP_...), then defaults."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from exchange.xml.safe import MAX_BYTES, MAX_DEPTH, Limits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_PATH = "/soap/v1"
DEFAULT_ENDPOINT = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}{DEFAULT_PATH}"
"""Where `exchange run` serves the endpoint unless told otherwise (partners' simulators call it)."""


class SoapSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXCHANGE_SOAP_", extra="ignore", frozen=True)

    path: str = DEFAULT_PATH
    max_body_bytes: int = MAX_BYTES
    """Refused (TOO_LARGE) before the body is read; the document inside is smaller still."""
    max_depth: int = 32
    """Nesting of the envelope (the partner document inside is base64 and nests apart)."""
    max_skew_s: int = 300
    """WS-Security Created must be this close to our clock; nonces are kept this long."""
    public_url: str | None = None
    """The address the served WSDL names; default: the Host the request came to."""
    threads: int = 16

    def envelope_limits(self) -> Limits:
        return Limits(max_bytes=self.max_body_bytes, max_depth=self.max_depth)

    def document_limits(self) -> Limits:
        return Limits(max_bytes=self.max_body_bytes, max_depth=MAX_DEPTH)


def parse_address(value: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT) -> (host, port); ValueError when it is not one."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)
