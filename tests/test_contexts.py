"""Our JSON-LD contexts on the HTTP front: at the path of the URL credentials name them
by, under the public URL's own path when it has one; the public URL is checked."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from exchange.contexts import context_url, public_url, served_contexts
from exchange.errors import ConfigError
from exchange.http import build_front
from exchange.metrics import Metrics
from exchange.resources import schema_path
from exchange.soap.server import serve

SHIPPED = schema_path("bri", "mra-dcc-ext-1.0.jsonld").read_bytes()


def _lower(headers: Any) -> dict[str, str]:
    """Header names are case-insensitive (HTTP/1.1); servers differ in how they spell them."""
    return {k.lower(): v for k, v in headers.items()}


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, _lower(exc.headers), exc.read()


@pytest.mark.parametrize("public", ["https://mra.example.gov.cn", "https://example.gov.cn/mra/"])
def test_the_front_serves_each_context_at_its_url_path(public: str) -> None:
    server = serve(build_front(Metrics(), {}, contexts=served_contexts(public)), "127.0.0.1", 0)
    try:
        url = context_url("mra-dcc-ext-1.0.jsonld", public.rstrip("/"))
        path = url.split("example.gov.cn", 1)[1]
        status, headers, body = _get(server.base_url + path)
        assert (status, headers["content-type"], body) == (200, "application/ld+json", SHIPPED)
        assert headers["access-control-allow-origin"] == "*"
        assert _get(server.base_url + "/contexts/other.jsonld")[0] == 404
    finally:
        server.stop()


def test_the_public_url_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXCHANGE_PUBLIC_URL", raising=False)
    assert public_url() == "https://cnca.gov.cn"
    monkeypatch.setenv("EXCHANGE_PUBLIC_URL", "http://127.0.0.1:8080/")
    assert context_url("x.jsonld") == "http://127.0.0.1:8080/contexts/x.jsonld"
    for bad in ("cnca.gov.cn", "ftp://cnca.gov.cn", "https://cnca.gov.cn/?a=1", "https://cnca.gov.cn/#x",
                "https://cnca.gov.cn/a b"):  # fmt: skip
        monkeypatch.setenv("EXCHANGE_PUBLIC_URL", bad)
        with pytest.raises(ConfigError, match="EXCHANGE_PUBLIC_URL"):
            public_url()
