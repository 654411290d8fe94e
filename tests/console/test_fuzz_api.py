"""Fuzzing the console's HTTP surface (issue 13): any path, query, method, cookie or body,
logged in or not, is answered without a server error and without a traceback."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.console.client import Client
from tests.console.support import Console

FUZZ = settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip
SEGMENTS = st.sampled_from(
    ["ops", "api", "static", "message", "document", "search", "overview", "replay", "me", "agreements",
     "dead", "login", "logout", "console.css", "..", ".", ""]
)  # fmt: skip
PATHS = st.lists(SEGMENTS | st.text(max_size=12), min_size=1, max_size=5).map(
    lambda parts: "/ops/" + "/".join(quote(p, safe="") if i % 2 else p for i, p in enumerate(parts))
)
QUERIES = st.dictionaries(
    st.sampled_from(["id", "partner", "kind", "sha256", "download", "q", "limit", "since", "x"]),
    st.text(max_size=20),
    max_size=4,
)


_SESSIONS: dict[int, tuple[Client, str]] = {}


def _session(console: Console) -> tuple[Client, str]:
    """One login per console (scrypt is slow on purpose), again only after a fuzzed logout."""
    known = _SESSIONS.get(id(console))
    if known is None or "mra_ops" not in known[0].cookies:
        known = _SESSIONS[id(console)] = console.login("alice")
    return known


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"]),
    path=PATHS,
    query=QUERIES,
    body=st.binary(max_size=300),
    cookie=st.text(max_size=40),
    logged_in=st.booleans(),
)
def test_any_request_is_answered_without_a_server_error(
    console: Console, method: str, path: str, query: dict[str, str], body: bytes, cookie: str, logged_in: bool
) -> None:
    client, csrf = _session(console) if logged_in else (Client(console.app), "")
    if not logged_in and cookie:
        client.cookies["mra_ops"] = cookie
    qs = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query.items())
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"} if logged_in else {}
    r = client.request(method, f"{path}?{qs}" if qs else path, body, headers)
    assert r.status < 500, (method, path, query, r.status, r.body[:200])
    assert b"Traceback" not in r.body
