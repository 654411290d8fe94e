"""The console end to end, in a real headless Chromium against the real service (`exchange
run` with its HTTP front, RabbitMQ on an isolated vhost, the kr partner simulator):

an operator logs in, finds a dead-lettered message by its certificate number, opens its
timeline, replays it (confirming the dialog) now that the partner accepts, and sees it
ACKNOWLEDGED, finds it again by its factory's Chinese name (the sample certificate's), and the
Chinese in its document renders as glyphs, not boxes (fonts-noto-cjk); a viewer sees no
replay button and the API refuses its POST with 403.
The README's screenshot is taken here: into the test's temporary folder, or where
EXCHANGE_SCREENSHOT says (`EXCHANGE_SCREENSHOT=docs/console.png` refreshes the README's).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from exchange.audit import AuditEvent, open_store
from exchange.transports.amqp.simulator import Mode
from tests.amqp.isolated import World, domestic_messages, publish_domestic
from tests.console.browser import eventually
from tests.console.support import PASSWORDS, users_file

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

REASON = "KC number unknown to KTL"
FACTORY = "东莞示例电子厂"  # the factory of samples/ccc.jsonl's first certificate, on every test message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(world: World, users: Path) -> str:
    """`exchange run` with its HTTP front on a free port; the world fixture stops it."""
    port = _free_port()
    log = (world.root / "run-console.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "run", "--http", f"127.0.0.1:{port}"],
        env={**world.env, "EXCHANGE_CONSOLE_USERS": str(users)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    world.processes.append(proc)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError((world.root / "run-console.log").read_text())
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    eventually(ready, timeout=90, what="the service to be ready")
    world.wait_for_consumers("mra.kr.work")
    return base


def _login(driver: Any, base: str, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base}/ops/")
    eventually(lambda: driver.find_element(By.ID, "username"), what="the login form")
    assert driver.current_url.endswith("/ops/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[user])
    driver.find_element(By.ID, "login").click()
    eventually(lambda: driver.find_element(By.ID, "who-name").text == user, what=f"{user} logged in")


def _events(driver: Any) -> list[tuple[str, str]]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")
    return [(r.get_attribute("data-event"), r.get_attribute("data-partner")) for r in rows]


def _open_message(
    driver: Any, cert: str, mid: str, query: str | None = None, state: str = "DEAD LETTERED"
) -> None:
    """Search in the header box (by certificate number unless `query` says otherwise), open
    the message from the results."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, "quick-q")
    box.clear()
    box.send_keys(query or cert, Keys.ENTER)
    link = eventually(
        lambda: driver.find_element(By.CSS_SELECTOR, f'#search-results tr[data-message="{mid}"] a'),
        what=f"{mid} among the results for {query or cert}",
    )
    row = driver.find_element(By.CSS_SELECTOR, f'#search-results tr[data-message="{mid}"]')
    assert cert in row.text and state in row.text
    link.click()
    eventually(lambda: driver.find_element(By.ID, "message-id").text == mid, what=f"the view of {mid}")
    eventually(lambda: ("DEAD_LETTERED", "kr") in _events(driver), what="the timeline")


def _document_text(driver: Any) -> str:
    """The pretty-printed document, once its fold is open (a live refresh may race a click)."""
    from selenium.webdriver.common.by import By

    fold = driver.find_element(By.CSS_SELECTOR, '.delivery[data-partner="kr"] .doc-document details')
    if fold.get_attribute("open") is None:
        fold.find_element(By.TAG_NAME, "summary").click()
    return str(fold.find_element(By.TAG_NAME, "pre").text)


def _screenshot(driver: Any, path: Path) -> None:
    """The README's picture: the message view, kr's document open (the sample's Chinese names)
    and the receipts folded, tall enough for the timeline."""
    from selenium.webdriver.common.by import By

    driver.execute_script(
        "document.querySelectorAll('.docblock details').forEach((d) => {"
        "  d.open = d.closest('.delivery[data-partner=\"kr\"] .doc-document') !== null;"
        "  d.dispatchEvent(new Event('toggle')); });"
    )
    driver.set_window_size(1440, 2600)
    eventually(
        lambda: len(driver.find_elements(By.CSS_SELECTOR, ".docblock details[open]")) == 1, what="folded"
    )
    driver.execute_script("window.scrollTo(0, 0)")
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path))
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    driver.set_window_size(1440, 1100)


def _assert_cjk_rendered(driver: Any, text: str) -> None:
    """Chinese shows as glyphs, not boxes: in the document's own font, `text` is as wide as
    full-width glyphs are (about 1 em each) and not as wide as the same number of characters
    no font has (Chromium's box), which is what every character becomes without a CJK font."""
    cjk, boxes, em = driver.execute_script(
        """
        const pre = document.querySelector('.delivery[data-partner="kr"] .doc-document pre');
        const width = (t) => {
          const s = document.createElement("span");
          s.textContent = t;
          pre.append(s);
          const w = s.getBoundingClientRect().width;
          s.remove();
          return w;
        };
        return [width(arguments[0]), width("\\uE000".repeat(arguments[0].length)),
                parseFloat(getComputedStyle(pre).fontSize)];
        """,
        text,
    )
    assert abs(cjk - boxes) > 0.1 * em * len(text), (cjk, boxes, em)
    assert cjk >= 0.9 * em * len(text), (cjk, boxes, em)


def test_operator_replays_a_dead_letter_and_a_viewer_cannot(world: World, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    sim, _ = world.simulator(Mode.REJECT)
    sim.reject_reason = REASON
    base = _start(world, users_file(world.root))
    messages = domestic_messages("console", 2)
    publish_domestic(world.url, messages)
    (replayed, cert), (kept, kept_cert) = [(mid, f"2019010907{i:06d}") for i, (mid, _) in enumerate(messages)]
    eventually(lambda: world.depth("mra.kr.dead") == 2, timeout=120, what="two dead letters on mra.kr.dead")
    sim.mode = Mode.ACK  # the partner fixed its side: a replay now goes through

    # -- the operator ---------------------------------------------------------------------
    driver = browser
    _login(driver, base, "alice")
    kr = '.delivery[data-partner="kr"]'
    overview = eventually(
        lambda: driver.find_element(By.CSS_SELECTOR, '.card[data-partner="kr"]').text, what="the overview"
    )
    assert "dead letters" in overview
    _open_message(driver, cert, replayed)
    assert REASON in eventually(lambda: driver.find_element(By.CSS_SELECTOR, kr).text, what="kr's delivery")
    assert cert in eventually(lambda: _document_text(driver), what="the document, unfolded")

    replay = f'button.replay[data-partner="kr"][data-message="{replayed}"]'
    eventually(lambda: driver.find_element(By.CSS_SELECTOR, replay).click() or True, what="the replay button")
    WebDriverWait(driver, 20).until(expected_conditions.alert_is_present())
    alert = driver.switch_to.alert
    assert replayed in alert.text and "kr" in alert.text
    alert.accept()
    eventually(
        lambda: ("ACKNOWLEDGED", "kr") in _events(driver),
        timeout=120,
        what="ACKNOWLEDGED in the timeline after the replay",
    )
    events = [e for e, p in eventually(lambda: _events(driver)) if p == "kr"]
    assert events.index("REPLAYED") < events.index("ACKNOWLEDGED")
    replayed_by = eventually(
        lambda: driver.find_element(By.CSS_SELECTOR, '#timeline tr[data-event="REPLAYED"]').text,
        what="the REPLAYED row",
    )
    assert "alice" in replayed_by
    eventually(
        lambda: '"status": "ACK"' in driver.find_element(By.CSS_SELECTOR, kr).text,
        what="the partner's ACK receipt",
    )

    # The sample's factory, by its Chinese name, from the header box: the replayed message.
    _open_message(driver, cert, replayed, query=FACTORY, state="ACKNOWLEDGED")
    eventually(lambda: ("ACKNOWLEDGED", "kr") in _events(driver), what="the replayed message again")
    assert FACTORY in eventually(lambda: _document_text(driver), what="the document, unfolded")
    _screenshot(driver, Path(os.environ.get("EXCHANGE_SCREENSHOT") or world.root / "console.png"))
    _assert_cjk_rendered(driver, FACTORY)

    # The download is the document as sent: its digest is the one the audit trail holds.
    href = eventually(
        lambda: driver.find_element(By.CSS_SELECTOR, f'{kr} a.download[data-kind="document"]').get_attribute(
            "href"
        ),
        what="the download link",
    )
    cookie = driver.get_cookie("mra_ops")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    request = urllib.request.Request(href, headers={"Cookie": f"mra_ops={cookie['value']}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        body, disposition = r.read(), r.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="{replayed}-kr-document.xml"')
    with open_store(world.audit_url) as store:
        trail = store.trace(replayed)
    enqueued = next(e for e in trail if e.event is AuditEvent.SEND_ENQUEUED and e.partner == "kr")
    assert hashlib.sha256(body).hexdigest() == enqueued.doc_sha256
    (replay_entry,) = [e for e in trail if e.event is AuditEvent.REPLAYED]
    assert replay_entry.actor == "alice" and replay_entry.partner == "kr"
    assert [e.event for e in trail if e.partner == "kr"][-1] is AuditEvent.ACKNOWLEDGED

    driver.find_element(By.ID, "logout").click()
    eventually(lambda: driver.current_url.endswith("/ops/login"), what="signed out")

    # -- the viewer -----------------------------------------------------------------------
    _login(driver, base, "bob")
    _open_message(driver, kept_cert, kept)
    assert driver.find_elements(By.CSS_SELECTOR, "button.replay") == []
    driver.get(f"{base}/ops/#/dead-letters")
    row = eventually(
        lambda: driver.find_element(By.CSS_SELECTOR, f'#dead-letters tr[data-message="{kept}"]').text,
        what="the dead letters page",
    )
    assert REASON in row and driver.find_elements(By.CSS_SELECTOR, "button.replay") == []
    status = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch("/ops/api/replay", {
          method: "POST",
          headers: {"Content-Type": "application/json",
                    "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
          body: JSON.stringify({partner: "kr", messageIds: [arguments[0]]}),
        }).then((r) => done(r.status), (e) => done(String(e)));
        """,
        kept,
    )
    assert status == 403
    time.sleep(1)  # nothing should move: give a wrongly accepted replay the time to show
    assert world.depth("mra.kr.dead") == 1
    with open_store(world.audit_url) as store:
        assert AuditEvent.REPLAYED not in {e.event for e in store.trace(kept)}
    sim.stop()
