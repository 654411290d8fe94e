"""The RabbitMQ management HTTP API as a provisioning admin (EXCHANGE_AMQP_ADMIN_URL,
e.g. http://admin:secret@broker:15672): for a broker on another host, where rabbitmqctl
cannot reach it. Only the calls provisioning needs; every failure says what is wrong
(unreachable, credentials refused, not an administrator, a refused change) without ever
repeating the password."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from exchange.errors import ExchangeError

TIMEOUT_S = 15.0


def _safe(url: str) -> str:
    """The URL without its credentials, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class ManagementAdmin:
    def __init__(self, url: str, timeout_s: float = TIMEOUT_S):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ExchangeError(
                f"EXCHANGE_AMQP_ADMIN_URL must be the management API's http(s) URL with its"
                f" credentials, e.g. http://admin:secret@broker:15672 (got {_safe(url) or 'nothing'})"
            )
        self.base = _safe(url)
        self.where = f"the RabbitMQ management API at {self.base}"
        self.user = parts.username or "guest"
        secret = f"{self.user}:{parts.password or ''}".encode()
        self._auth = "Basic " + base64.b64encode(secret).decode("ascii")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", self._auth)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            raise ExchangeError(self._refused(method, path, exc)) from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ExchangeError(
                f"cannot reach {self.where}: {reason} (is the broker up and the rabbitmq_management"
                " plugin enabled? `rabbitmq-plugins enable rabbitmq_management`)"
            ) from None
        return json.loads(text) if text else None

    def _refused(self, method: str, path: str, exc: urllib.error.HTTPError) -> str:
        try:
            detail = json.loads(exc.read() or b"{}").get("reason", "")
        except ValueError:
            detail = ""
        if exc.code == 401:
            return (
                f"{self.where} refused the credentials of user {self.user} (401"
                f"{': ' + detail if detail else ''}): check the user and password in EXCHANGE_AMQP_ADMIN_URL"
            )
        if exc.code == 403:
            return (
                f"user {self.user} may not {method} {path} on {self.where} (403):"
                " it needs the administrator tag"
            )
        if exc.code == 404 and path.startswith("/api/") and method == "GET":
            return f"{self.base} does not answer as a RabbitMQ management API ({method} {path}: 404)"
        return f"{self.where} refused {method} {path}: HTTP {exc.code}{': ' + detail if detail else ''}"

    def vhosts(self) -> set[str]:
        return {str(v["name"]) for v in self._call("GET", "/api/vhosts?columns=name")}

    def users(self) -> set[str]:
        return {str(u["name"]) for u in self._call("GET", "/api/users?columns=name")}

    def add_vhost(self, vhost: str) -> None:
        self._call("PUT", f"/api/vhosts/{quote(vhost, safe='')}", {})

    def put_user(self, user: str, password: str) -> None:
        self._call("PUT", f"/api/users/{quote(user, safe='')}", {"password": password, "tags": ""})

    def set_permissions(self, vhost: str, user: str, configure: str, write: str, read: str) -> None:
        path = f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}"
        self._call("PUT", path, {"configure": configure, "write": write, "read": read})
