"""Issue 13, finding 8 (console): sessions end 12 h after login whatever the activity, the
cookie follows the session; odd static paths answer 404 (no traceback); download names are
encoded whole."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from exchange.console.sessions import LIFETIME_S, SessionStore
from exchange.soap.server import serve
from tests.console.support import MID, Console


def test_an_active_session_still_ends_at_its_absolute_lifetime(console: Console) -> None:
    now = [1000.0]
    console.app.sessions.clock = lambda: now[0]
    c, _ = console.login("bob")
    assert console.app.sessions.lifetime_s == LIFETIME_S == 12 * 3600
    for _ in range(12 * 6):  # a request every 10 minutes, never idle for long
        now[0] += 600
        assert c.get("/ops/api/me").status == 200 or now[0] - 1000 >= LIFETIME_S
    now[0] = 1000 + LIFETIME_S + 1
    assert c.get("/ops/api/me").status == 401


def test_the_cookie_is_refreshed_with_activity_and_never_outlives_the_session(console: Console) -> None:
    now = [1000.0]
    console.app.sessions.clock = lambda: now[0]
    c, _ = console.login("bob")
    now[0] += 600
    r = c.get("/ops/api/me")
    (cookie,) = [v for v in r.all("Set-Cookie") if v.startswith("mra_ops=")]
    assert "Max-Age=1800" in cookie and "HttpOnly" in cookie  # idle timeout from now, not from login
    while now[0] < 1000 + LIFETIME_S - 60 - 1500:  # active all along, up to near the end
        now[0] += 1500
        assert console.app.sessions.get(c.cookies["mra_ops"]) is not None
    now[0] = 1000 + LIFETIME_S - 60  # the cookie lives only what is left of the session
    r = c.get("/ops/api/me")
    (cookie,) = [v for v in r.all("Set-Cookie") if v.startswith("mra_ops=")]
    assert "Max-Age=60" in cookie


def test_idle_timeout_still_applies() -> None:
    now = [0.0]
    store = SessionStore(30.0, lambda: now[0], lifetime_s=100.0)
    from exchange.console.accounts import Account, Role

    session = store.create(Account("a", "hash", Role.VIEWER))
    now[0] = 29.0
    assert store.get(session.token) is not None
    now[0] = 60.0
    assert store.get(session.token) is None


@pytest.mark.parametrize("name", ["x\x00.css", "console.css\x00.js", "..css", ".css", "a b.css", "%2e%2e.css",
                                  "console.css/", "c:console.css", "console.CSS"])  # fmt: skip
def test_odd_static_names_are_404(console: Console, name: str) -> None:
    r = console.client().get("/ops/static/" + name)
    assert r.status == 404 and "Traceback" not in r.text


def test_a_nul_in_a_static_path_over_http_is_404_without_a_traceback(console: Console) -> None:
    with serve(console.app, "127.0.0.1", 0) as server:
        for path in ("/ops/static/x%00.css", "/ops/static/%00", "/ops/static/console.css%00.js"):
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(server.base_url + path, timeout=10)
            body = answer.value.read()
            assert answer.value.code == 404 and b"Traceback" not in body, path
        with urllib.request.urlopen(server.base_url + "/ops/static/console.css", timeout=10) as ok:
            assert ok.status == 200


def test_download_names_are_encoded_whole(console: Console) -> None:
    c, _ = console.login("bob")
    r = c.get(f"/ops/api/document?id={MID}&partner=kr&download=1")
    disposition = r.header("Content-Disposition") or ""
    star = disposition.split("filename*=UTF-8''", 1)[1]
    assert "/" not in star and ";" not in star and '"' not in star and " " not in star
    from exchange.console import web

    assert web.quote("a/../b c", safe="") == "a%2F..%2Fb%20c"  # what filename* is made with
