"""The console's WSGI app, mounted at /ops: login, session cookie, CSRF, roles, routes.

GET  /ops/                  the single-page console (login first)
GET  /ops/login, POST       the login form; POST /ops/logout
GET  /ops/static/NAME       CSS and JavaScript shipped in the package
GET  /ops/api/...           JSON: me, overview, search, message, document, dead-letters, agreements
POST /ops/api/replay        operators only (403 otherwise), with the session's CSRF token

Cookies are HttpOnly and SameSite=Strict (Secure over HTTPS); the token in them is random
and means something only to this process. Every POST carries a CSRF token: the session's in
an X-CSRF-Token header for the API, a login cookie's in the login form.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote

import structlog

from exchange.archive import Kind
from exchange.console.accounts import Accounts
from exchange.console.agreements import agreements_view
from exchange.console.backend import ConsoleBackend, UnknownPartner
from exchange.console.render import extension
from exchange.console.sessions import LoginThrottle, Session, SessionStore, same_token

log = structlog.get_logger("exchange.console")

PREFIX = "/ops"
SESSION_COOKIE = "mra_ops"
LOGIN_COOKIE = "mra_ops_login"
MAX_BODY = 64 * 1024
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]

SAFE_DOCUMENT_TYPES = frozenset(
    {"application/json", "application/ld+json", "application/xml", "text/xml", "application/soap+xml"}
)

StartResponse = Callable[..., Any]


_STATIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.[a-z]{1,4}")
"""What a shipped asset is called; anything else (NUL, slashes, dots, odd characters) is 404."""


def _asset(name: str) -> bytes:
    return resources.files("exchange.console.static").joinpath(name).read_bytes()


class Response:
    def __init__(self, status: str, body: bytes = b"", content_type: str = "application/json") -> None:
        self.status = status
        self.body = body
        self.headers: list[tuple[str, str]] = [("Content-Type", content_type), *SECURITY_HEADERS]

    @classmethod
    def json(cls, data: Any, status: str = "200 OK") -> Response:
        r = cls(status, json.dumps(data, ensure_ascii=False).encode())
        r.headers.append(("Cache-Control", "no-store"))
        return r

    @classmethod
    def error(cls, status: str, message: str) -> Response:
        return cls.json({"error": message}, status)

    @classmethod
    def redirect(cls, location: str) -> Response:
        r = cls("303 See Other", b"", "text/plain")
        r.headers.append(("Location", location))
        return r

    def cookie(self, name: str, value: str, max_age: int, secure: bool) -> Response:
        flags = f"Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age={max_age}" + (
            "; Secure" if secure else ""
        )
        self.headers.append(("Set-Cookie", f"{name}={value}; {flags}"))
        return self

    def send(self, start_response: StartResponse) -> list[bytes]:
        start_response(self.status, [*self.headers, ("Content-Length", str(len(self.body)))])
        return [self.body]


class Request:
    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        self.path = str(environ.get("PATH_INFO", ""))
        self.query = {k: v[0] for k, v in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(str(environ.get("HTTP_COOKIE", "")))
        except Exception:  # a malformed cookie header: as if there were none
            cookies = SimpleCookie()
        self.cookies = {k: m.value for k, m in cookies.items()}
        self.secure = environ.get("wsgi.url_scheme") == "https"
        self.remote = str(environ.get("REMOTE_ADDR", "?"))

    def body(self) -> bytes:
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return bytes(self.environ["wsgi.input"].read(length)) if length > 0 else b""

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body().decode("utf-8", "replace")).items()}


class ConsoleApp:
    """WSGI app; `accounts` None means no users configured: every page says how to set them."""

    def __init__(self, backend: ConsoleBackend, accounts: Accounts | None) -> None:
        self.backend = backend
        self.accounts = accounts
        self.sessions = SessionStore(60.0 * (accounts.session_minutes if accounts else 1))
        self.throttle = LoginThrottle()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        req = Request(environ)
        try:
            response = self.route(req)
        except Exception:
            log.exception("console request failed", path=req.path)
            response = Response.error("500 Internal Server Error", "internal error (see the service log)")
        return response.send(start_response)

    # -- routing ----------------------------------------------------------------------

    def route(self, req: Request) -> Response:
        path = req.path[len(PREFIX) :] or "/"
        if path.startswith("/static/"):
            return self._static(path[len("/static/") :])
        if self.accounts is None:
            return _page(
                "503 Service Unavailable",
                "Console not configured",
                "<p>No console users are configured. Set <code>EXCHANGE_CONSOLE_USERS</code> to a users "
                "file (see <code>exchange console hash-password</code>) and restart the service.</p>",
            )
        if path == "/login":
            return self._login(req)
        session = self.sessions.get(req.cookies.get(SESSION_COOKIE))
        if path == "/logout" and req.method == "POST":
            return self._logout(req, session)
        if path.startswith("/api/"):
            if session is None:
                return Response.error("401 Unauthorized", "log in first")
            return self._refreshed(self._api(req, session, path[len("/api/") :]), req, session)
        if path == "/" and req.method == "GET":
            if session is None:
                return Response.redirect(f"{PREFIX}/login")
            return self._refreshed(self._shell(session), req, session)
        return Response.error("404 Not Found", f"no such page {req.path}")

    def _refreshed(self, response: Response, req: Request, session: Session) -> Response:
        """The session cookie again, its Max-Age to the session's next expiry: activity keeps
        it as alive as the session (never beyond the absolute lifetime)."""
        return response.cookie(SESSION_COOKIE, session.token, self.sessions.max_age(session), req.secure)

    def _static(self, name: str) -> Response:
        suffix = name[name.rfind(".") :] if "." in name else ""
        if not _STATIC_NAME.fullmatch(name) or suffix not in STATIC_TYPES:  # NUL, paths, dots: 404
            return Response.error("404 Not Found", "no such file")
        try:
            data = _asset(name)
        except (OSError, ValueError):
            return Response.error("404 Not Found", "no such file")
        r = Response("200 OK", data, STATIC_TYPES[suffix])
        r.headers.append(("Cache-Control", "no-cache"))
        return r

    def _shell(self, session: Session) -> Response:
        text = _asset("console.html").decode()
        account = session.account
        values = {"csrf": session.csrf, "user": account.name, "role": account.role.value}
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
        r = Response("200 OK", text.encode(), "text/html; charset=utf-8")
        r.headers.append(("Cache-Control", "no-store"))
        return r

    # -- login / logout ---------------------------------------------------------------

    def _login(self, req: Request) -> Response:
        assert self.accounts is not None
        if req.method == "GET":
            return self._login_form(req, None)
        if req.method != "POST":
            return Response.error("405 Method Not Allowed", "GET or POST")
        try:
            form = req.form()
        except ValueError as exc:
            return Response.error("413 Content Too Large", str(exc))
        if not same_token(form.get("csrf"), req.cookies.get(LOGIN_COOKIE, "")) or not form.get("csrf"):
            return self._login_form(req, "Your login form expired; please try again.", "403 Forbidden")
        name, password = form.get("username", "").strip()[:100], form.get("password", "")
        if self.throttle.locked(name, req.remote):
            log.warning("console login refused: too many failures", user=name, remote=req.remote)
            return self._login_form(req, "Too many failed attempts; wait a minute.", "429 Too Many Requests")
        account = self.accounts.authenticate(name, password) if name and password else None
        if account is None:
            self.throttle.failed(name, req.remote)
            log.warning("console login failed", user=name, remote=req.remote)
            return self._login_form(req, "Unknown user or wrong password.", "401 Unauthorized")
        self.throttle.succeeded(name, req.remote)
        session = self.sessions.create(account)
        log.info("console login", user=account.name, role=account.role.value, remote=req.remote)
        r = Response.redirect(f"{PREFIX}/")
        r.cookie(SESSION_COOKIE, session.token, int(self.sessions.idle_s), req.secure)
        return r.cookie(LOGIN_COOKIE, "", 0, req.secure)

    def _login_form(self, req: Request, error: str | None, status: str = "200 OK") -> Response:
        token = secrets.token_urlsafe(24)
        text = _asset("login.html").decode()
        text = text.replace("{{csrf}}", token)
        text = text.replace(
            "{{error}}", f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        )
        r = Response(status, text.encode(), "text/html; charset=utf-8")
        r.headers.append(("Cache-Control", "no-store"))
        return r.cookie(LOGIN_COOKIE, token, 3600, req.secure)

    def _logout(self, req: Request, session: Session | None) -> Response:
        try:
            form = req.form()
        except ValueError:
            form = {}
        if session is not None:
            given = form.get("csrf") or req.environ.get("HTTP_X_CSRF_TOKEN")
            if not same_token(given, session.csrf):
                return Response.error("403 Forbidden", "missing or wrong CSRF token")
            self.sessions.drop(session.token)
            log.info("console logout", user=session.account.name)
        r = Response.redirect(f"{PREFIX}/login")
        return r.cookie(SESSION_COOKIE, "", 0, req.secure)

    # -- the API ----------------------------------------------------------------------

    def _api(self, req: Request, session: Session, name: str) -> Response:
        if req.method == "POST":
            if not same_token(req.environ.get("HTTP_X_CSRF_TOKEN"), session.csrf):
                return Response.error("403 Forbidden", "missing or wrong CSRF token")
            if name == "replay":
                return self._replay(req, session)
            return Response.error("404 Not Found", f"no such action {name}")
        if req.method != "GET":
            return Response.error("405 Method Not Allowed", "GET or POST")
        b = self.backend
        if name == "me":
            a = session.account
            return Response.json({"user": a.name, "role": a.role.value, "mayReplay": a.may_change})
        if name == "overview":
            return Response.json(b.overview())
        if name == "search":
            return Response.json(b.search(req.query.get("q", "")[:200]))
        if name == "message":
            found = b.message(req.query.get("id", ""))
            if found is None:
                return Response.error("404 Not Found", "no such message in the audit trail")
            return Response.json({**found, "mayReplay": session.account.may_change})
        if name == "document":
            return self._document(req)
        if name == "dead-letters":
            return Response.json({**b.dead_letters(), "mayReplay": session.account.may_change})
        if name == "agreements":
            return Response.json(agreements_view(b.config))
        return Response.error("404 Not Found", f"no such API {name}")

    def _document(self, req: Request) -> Response:
        mid, partner = req.query.get("id", ""), req.query.get("partner", "")
        try:
            kind = Kind(req.query.get("kind", "document"))
        except ValueError:
            return Response.error("400 Bad Request", "kind is document or receipt")
        doc = self.backend.document(mid, partner, kind, req.query.get("sha256"))
        if doc is None:
            return Response.error("404 Not Found", f"no {kind.value} kept for {mid} to {partner}")
        # The type is the sender's word (a partner's receipt included): only known document types
        # are served as such, anything else as bytes; sandboxed, so nothing in it can run here.
        content_type = (
            doc.content_type if doc.content_type in SAFE_DOCUMENT_TYPES else "application/octet-stream"
        )
        r = Response("200 OK", doc.body, content_type)
        r.headers = [(k, v) for k, v in r.headers if k != "Content-Security-Policy"]
        r.headers.append(("Content-Security-Policy", "sandbox; default-src 'none'"))
        name = f"{mid}-{partner}-{kind.value}.{extension(doc.content_type)}"
        ascii_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        disposition = "attachment" if req.query.get("download") else "inline"
        r.headers.append(
            (
                "Content-Disposition",
                f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
            )
        )
        r.headers.append(("Cache-Control", "no-store"))
        r.headers.append(("X-Document-SHA256", doc.sha256))
        return r

    def _replay(self, req: Request, session: Session) -> Response:
        account = session.account
        if not account.may_change:
            log.warning("console replay refused", user=account.name, role=account.role.value)
            return Response.error("403 Forbidden", f"{account.name} is a {account.role.value}: read-only")
        try:
            data = json.loads(req.body() or b"{}")
        except ValueError:
            return Response.error("400 Bad Request", "a JSON body: {partner, messageIds}")
        partner = data.get("partner") if isinstance(data, dict) else None
        ids = data.get("messageIds") if isinstance(data, dict) else None
        if not isinstance(partner, str) or not isinstance(ids, list) or not ids:
            return Response.error("400 Bad Request", "a JSON body: {partner, messageIds: [...]}")
        if not all(isinstance(i, str) and i for i in ids):
            return Response.error("400 Bad Request", "messageIds must be message id strings")
        try:
            result = self.backend.replay(partner, ids, account.name)
        except UnknownPartner:
            return Response.error("400 Bad Request", f"unknown partner {partner!r}")
        log.info("console replay", user=account.name, partner=partner, ids=ids, replayed=result["replayed"])
        status = "200 OK" if result.get("replayed") and not result.get("error") else "409 Conflict"
        return Response.json(result, status)


def _page(status: str, title: str, body_html: str) -> Response:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>{html.escape(title)}</title><link rel="stylesheet" href="{PREFIX}/static/console.css">'
        f'</head><body class="plain"><main class="narrow"><h1>{html.escape(title)}</h1>{body_html}</main>'
        "</body></html>"
    )
    return Response(status, text.encode(), "text/html; charset=utf-8")
