"""The console's HTTP surface without a browser: login, sessions, CSRF, roles, the JSON API."""

from __future__ import annotations

import re

import pytest

from exchange.audit import AuditEntry, AuditEvent
from exchange.console.web import ConsoleApp
from tests.console.support import CERT, DOC, MID, Console


def test_without_a_session_pages_redirect_to_login_and_the_api_answers_401(console: Console) -> None:
    c = console.client()
    r = c.get("/ops/")
    assert r.status == 303 and r.header("Location") == "/ops/login"
    assert c.get("/ops/api/overview").status == 401
    assert c.post_json("/ops/api/replay", {"partner": "kr", "messageIds": [MID]}).status == 401
    page = c.get("/ops/login")
    assert page.status == 200 and 'name="password"' in page.text
    assert "default-src 'self'" in (page.header("Content-Security-Policy") or "")


def test_login_sets_a_strict_http_only_session_cookie(console: Console) -> None:
    c = console.client()
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/ops/login").text)
    assert token is not None
    r = c.post_form(
        "/ops/login", {"csrf": token.group(1), "username": "alice", "password": "alice-operator-pw"}
    )
    assert r.status == 303 and r.header("Location") == "/ops/"
    (cookie,) = [v for v in r.all("Set-Cookie") if v.startswith("mra_ops=")]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ops" in cookie
    assert "Max-Age=1800" in cookie  # session_minutes = 30
    shell = c.get("/ops/")
    assert shell.status == 200 and 'content="operator"' in shell.text and "console.js" in shell.text
    assert c.get("/ops/api/me").json() == {"user": "alice", "role": "operator", "mayReplay": True}


def test_wrong_password_unknown_user_and_missing_login_token_are_refused(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    c = console.client()
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/ops/login").text)
    assert token is not None
    bad = c.post_form("/ops/login", {"csrf": token.group(1), "username": "alice", "password": "guess"})
    assert bad.status == 401 and "wrong password" in bad.text
    assert not any(k == "mra_ops" for k in c.cookies)
    token = re.search(r'name="csrf" value="([^"]+)"', bad.text)
    assert token is not None
    nobody = c.post_form("/ops/login", {"csrf": token.group(1), "username": "mallory", "password": "x" * 12})
    assert nobody.status == 401
    forged = console.client()  # a form posted from elsewhere: no login cookie to match
    r = forged.post_form(
        "/ops/login", {"csrf": "made-up", "username": "alice", "password": "alice-operator-pw"}
    )
    assert r.status == 403 and "mra_ops" not in forged.cookies


def test_a_viewer_cannot_replay_even_with_a_valid_csrf_token(console: Console) -> None:
    c, csrf = console.login("bob")
    assert c.get("/ops/api/me").json()["mayReplay"] is False
    r = c.post_json("/ops/api/replay", {"partner": "kr", "messageIds": [MID]}, csrf=csrf)
    assert r.status == 403 and "read-only" in r.json()["error"]
    assert console.replays == []
    assert c.get(f"/ops/api/message?id={MID}").json()["mayReplay"] is False
    assert c.get("/ops/api/dead-letters").json()["mayReplay"] is False


def test_an_operator_replays_with_the_csrf_token_only(console: Console) -> None:
    c, csrf = console.login("alice")
    body = {"partner": "kr", "messageIds": [MID]}
    assert c.post_json("/ops/api/replay", body).status == 403  # no token
    assert c.post_json("/ops/api/replay", body, csrf="wrong").status == 403
    assert console.replays == []
    r = c.post_json("/ops/api/replay", body, csrf=csrf)
    assert r.status == 200 and r.json()["replayed"] == [MID]
    assert console.replays == [("kr", [MID], "alice")]  # the operator's name goes to the audit
    assert c.post_json("/ops/api/replay", {"partner": "kr"}, csrf=csrf).status == 400
    assert c.post_json("/ops/api/replay", {"partner": "kr", "messageIds": [1]}, csrf=csrf).status == 400


def test_search_by_certificate_number_and_by_message_id(console: Console) -> None:
    c, _ = console.login("bob")
    for query in (CERT, MID, f"  {CERT} "):
        found = c.get(f"/ops/api/search?q={query.replace(' ', '%20')}").json()["messages"]
        assert [m["messageId"] for m in found] == [MID]
        assert found[0]["recordId"] == CERT and found[0]["kind"] == "ccc"
        assert found[0]["partners"] == {"kr": "DEAD_LETTERED"}
    assert c.get("/ops/api/search?q=nothing-like-it").json()["messages"] == []
    assert c.get("/ops/api/search?q=").json()["messages"] == []


def test_the_message_view_has_the_timeline_the_document_and_the_receipt(console: Console) -> None:
    c, _ = console.login("alice")
    data = c.get(f"/ops/api/message?id={MID}").json()
    events = [e["event"] for e in data["timeline"]]
    assert events == [
        "RECEIVED", "CONVERTED", "VALIDATED", "SEND_ENQUEUED", "SEND_IN_PROGRESS",
        "SEND_ATTEMPT_FAILED", "SEND_FAILURE", "DEAD_LETTERED",
    ]  # fmt: skip
    assert all(e["time"].endswith("Z") for e in data["timeline"])  # UTC
    (kr,) = data["deliveries"]
    assert kr["partner"] == "kr" and kr["state"] == "DEAD_LETTERED" and kr["replayable"] is True
    assert kr["reason"] == "KC number unknown to KTL" and kr["attempts"] == 1
    assert kr["document"]["contentType"] == "application/xml" and kr["document"]["bytes"] == len(DOC)
    assert "\n  <Number>2019010907000001</Number>\n" in kr["document"]["pretty"]  # indented
    (receipt,) = kr["receipts"]
    assert '"status": "REJECT"' in receipt["pretty"]
    assert c.get("/ops/api/message?id=nope").status == 404


def test_document_download_keeps_the_exact_bytes(console: Console) -> None:
    c, _ = console.login("bob")
    r = c.get(f"/ops/api/document?id={MID}&partner=kr&download=1")
    assert r.status == 200 and r.body == DOC
    assert r.header("Content-Type") == "application/xml"
    assert r.header("Content-Disposition") == (
        f"attachment; filename=\"{MID}-kr-document.xml\"; filename*=UTF-8''{MID}-kr-document.xml"
    )
    assert r.header("X-Content-Type-Options") == "nosniff" and r.header("Cache-Control") == "no-store"
    inline = c.get(f"/ops/api/document?id={MID}&partner=kr&kind=receipt")
    assert inline.header(
        "Content-Disposition",
    ).startswith("inline;")  # type: ignore[union-attr]
    assert inline.json()["reason"] == "KC number unknown to KTL"
    assert r.header("Content-Security-Policy") == "sandbox; default-src 'none'"
    assert c.get(f"/ops/api/document?id={MID}&partner=eu").status == 404
    assert c.get(f"/ops/api/document?id={MID}&partner=kr&kind=other").status == 400


def test_dead_letters_list_reasons_until_replayed(console: Console) -> None:
    c, _ = console.login("alice")
    data = c.get("/ops/api/dead-letters").json()
    (row,) = data["deadLetters"]
    assert (row["partner"], row["messageId"], row["recordId"], row["state"]) == (
        "kr",
        MID,
        CERT,
        "DEAD_LETTERED",
    )
    assert row["reason"] == "KC number unknown to KTL" and row["attempts"] == 1
    assert data["queueDepths"]["mra.kr.dead"] == 1 and data["queueDepths"]["mra.eu.dead"] is None
    assert data["mayReplay"] is True
    console.audit.append(AuditEntry(AuditEvent.REPLAYED, message_id=MID, partner="kr", actor="alice"))
    assert c.get("/ops/api/dead-letters").json()["deadLetters"] == []


def test_overview_per_partner(console: Console) -> None:
    c, _ = console.login("bob")
    data = c.get("/ops/api/overview").json()
    kr = next(p for p in data["partners"] if p["partner"] == "kr")
    assert kr["backlog"] == 3 and kr["deadLetters"] == 1 and kr["transport"] == "amqp"
    assert data["brokerError"] is None and data["queues"]["mra.kr.dead"]["depth"] == 1


def test_overview_says_when_the_broker_is_down(console: Console) -> None:
    def down() -> None:
        raise ConnectionError("broker down")

    console.backend.status = down  # type: ignore[assignment]
    c, _ = console.login("bob")
    data = c.get("/ops/api/overview").json()
    assert data["brokerError"] == "ConnectionError: broker down"
    assert {p["partner"] for p in data["partners"]} == set(console.config.partners)


def test_logout_needs_the_token_and_ends_the_session(console: Console) -> None:
    c, csrf = console.login("alice")
    assert c.post_form("/ops/logout", {"csrf": "wrong"}).status == 403
    assert c.get("/ops/api/me").status == 200
    r = c.post_form("/ops/logout", {"csrf": csrf})
    assert r.status == 303 and r.header("Location") == "/ops/login"
    assert c.get("/ops/api/me").status == 401


def test_a_stolen_cookie_value_from_a_restarted_service_means_nothing(console: Console) -> None:
    c, _ = console.login("alice")
    restarted = ConsoleApp(console.backend, console.app.accounts)
    c.app = restarted
    assert c.get("/ops/api/me").status == 401


def test_static_files_are_shipped_and_nothing_else_is_served(console: Console) -> None:
    c = console.client()
    js = c.get("/ops/static/console.js")
    assert js.status == 200 and js.header(
        "Content-Type",
    ).startswith("text/javascript")  # type: ignore[union-attr]
    assert c.get("/ops/static/console.css").status == 200
    assert c.get("/ops/static/__init__.py").status == 404
    assert c.get("/ops/static/../web.py").status == 404


def test_without_users_the_console_says_how_to_configure_it(console: Console) -> None:
    c = ConsoleApp(console.backend, None)
    from tests.console.client import Client

    r = Client(c).get("/ops/")
    assert r.status == 503 and "EXCHANGE_CONSOLE_USERS" in r.text


def test_the_service_front_serves_the_console_at_ops(console: Console) -> None:
    from exchange.http import build_front
    from exchange.metrics import Metrics
    from tests.console.client import Client

    front = Client(build_front(Metrics(), {}, console=console.app))
    r = front.get("/ops")
    assert r.status == 303 and r.header("Location") == "/ops/"
    assert front.get("/ops/").header("Location") == "/ops/login"
    assert front.get("/ops/login").status == 200
    assert front.get("/healthz").status == 200
    assert front.get("/opsx").status == 404
    bare = Client(build_front(Metrics(), {}))  # `exchange run` without a console: no /ops
    assert bare.get("/ops/login").status == 404


def test_repeated_failures_lock_that_name_from_that_address_for_a_while(console: Console) -> None:
    c = console.client()
    for _ in range(5):
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/ops/login").text)
        assert token is not None
        r = c.post_form("/ops/login", {"csrf": token.group(1), "username": "alice", "password": "guess"})
        assert r.status == 401
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/ops/login").text)
    assert token is not None
    right = {"csrf": token.group(1), "username": "alice", "password": "alice-operator-pw"}
    locked = c.post_form("/ops/login", right)
    assert locked.status == 429 and "Too many failed attempts" in locked.text  # even the right password
    console.app.throttle.clock = lambda: 1e12  # a while later
    token = re.search(r'name="csrf" value="([^"]+)"', locked.text)
    assert token is not None
    assert c.post_form("/ops/login", {**right, "csrf": token.group(1)}).status == 303
    console.login("bob")  # others were never locked


def test_a_partner_cannot_make_us_serve_html(console: Console) -> None:
    """A receipt's content type is the partner's word: anything but a document type is bytes."""
    from exchange.archive import Archived, Kind

    evil = b"<html><script>alert(1)</script></html>"
    console.archive.put_many([Archived("kr", MID, Kind.RECEIPT, "e" * 64, "text/html", evil)])
    c, _ = console.login("bob")
    r = c.get(f"/ops/api/document?id={MID}&partner=kr&kind=receipt&sha256={'e' * 64}")
    assert r.status == 200 and r.body == evil
    assert r.header("Content-Type") == "application/octet-stream"
    assert r.header("Content-Security-Policy") == "sandbox; default-src 'none'"


def test_overview_shows_the_circuit_breakers_of_soap_partners(console: Console) -> None:
    console.backend.breakers = lambda: {"eu": "open"}
    c, _ = console.login("bob")
    partners = {p["partner"]: p for p in c.get("/ops/api/overview").json()["partners"]}
    assert partners["eu"]["circuit"] == "open" and partners["kr"]["circuit"] is None
