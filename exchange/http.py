"""The service's HTTP front: one WSGI app on the one server `exchange run` starts.

/soap/v1   the SOAP endpoint (when it could be configured), and under /soap/ the XSDs its
           WSDL imports (exchange/soap/contract.py)
/metrics   Prometheus text format
/healthz   the process is up
/readyz    broker connected, audit store answering, schemas and mappings compiled; and, for
           information, each partner's health with its reason (checks.partners): a partner
           that cannot deliver does not take the service out of rotation, the others flow
/ops       the operations console (exchange/console/), when given
/contexts/<name>.jsonld   our JSON-LD contexts, where credentials name them (exchange/contexts.py)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import make_wsgi_app

from exchange.contexts import MEDIA_TYPE as CONTEXT_MEDIA_TYPE
from exchange.metrics import Metrics

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Check = Callable[[], bool]


def _respond(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def build_front(
    metrics: Metrics,
    readiness: dict[str, Check],
    soap: WsgiApp | None = None,
    soap_path: str = "/soap/v1",
    console: WsgiApp | None = None,
    partners: Callable[[], Mapping[str, Any]] | None = None,
    contexts: Mapping[str, bytes] | None = None,
) -> WsgiApp:
    """`contexts`: path -> JSON-LD context bytes, served to anyone (verifiers expanding a
    credential fetch them, browsers too: hence CORS), cacheable since a context URL is
    versioned and never changes meaning."""
    documents = dict(contexts or {})
    scrape = make_wsgi_app(metrics.registry)
    soap_prefix = soap_path.rsplit("/", 1)[0] + "/"  # the endpoint's folder: its contract's files

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return scrape(environ, start_response)  # type: ignore[no-any-return]
        if path in documents:
            body = documents[path]
            start_response("200 OK", [
                ("Content-Type", CONTEXT_MEDIA_TYPE), ("Content-Length", str(len(body))),
                ("Access-Control-Allow-Origin", "*"), ("Cache-Control", "public, max-age=86400"),
            ])  # fmt: skip
            return [body]
        if path == "/healthz":
            return _respond(start_response, "200 OK", {"status": "up"})
        if path == "/readyz":
            checks: dict[str, Any] = {}
            for name, check in readiness.items():
                try:
                    checks[name] = bool(check())
                except Exception:  # a check that cannot answer is a "not ready", not a crash
                    checks[name] = False
            ready = all(checks.values())
            if partners is not None:
                try:
                    checks["partners"] = dict(partners())
                except Exception as exc:  # informative only: never an error page
                    checks["partners"] = {"error": f"{type(exc).__name__}: {exc}"}
            return _respond(start_response, "200 OK" if ready else "503 Service Unavailable",
                            {"ready": ready, "checks": checks})  # fmt: skip
        if console is not None and (path == "/ops" or path.startswith("/ops/")):
            if path == "/ops":
                start_response("303 See Other", [("Location", "/ops/"), ("Content-Length", "0")])
                return [b""]
            return console(environ, start_response)
        if path == soap_path or path.startswith(soap_prefix):
            if soap is None:
                missing = {"error": "the SOAP endpoint is not configured (no signing key pair)"}
                return _respond(start_response, "503 Service Unavailable", missing)
            return soap(environ, start_response)
        return _respond(start_response, "404 Not Found", {"error": f"no such path {path}"})

    return app
