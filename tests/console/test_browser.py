"""The console's pages in headless Chromium over a console with real stores and a stand-in
replay (no broker): the parts of the JavaScript the end-to-end test does not walk through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.soap.server import RunningServer, serve
from tests.console.browser import eventually
from tests.console.support import CERT, PASSWORDS, Console, dead_lettered, make_console

pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Console, RunningServer]]:
    console = make_console(tmp_path)
    dead_lettered(console.audit)
    dead_lettered(console.audit, mid="ccc-0002", record="2019010907000002")
    server = serve(console.app, "127.0.0.1", 0)
    try:
        yield console, server
    finally:
        server.stop()
        console.audit.close()
        console.archive.close()


def _login(driver: Any, base: str, user: str, page: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/ops/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[user])
    driver.find_element(By.ID, "login").click()
    eventually(lambda: driver.find_element(By.ID, "who-name").text == user, what="logged in")
    driver.get(f"{base}/ops/#/{page}")


def test_an_operator_replays_several_dead_letters_at_once(
    served: tuple[Console, RunningServer], browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    console, server = served
    _login(browser, server.base_url, "alice", "dead-letters")
    rows = eventually(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#dead-letters tbody tr")) == 2)
    assert rows
    for mid in ("ccc-0001", "ccc-0002"):
        eventually(
            lambda mid=mid: (
                browser.find_element(By.CSS_SELECTOR, f'tr[data-message="{mid}"] input.choose').click()
                or True
            ),
            what=f"the box of {mid}",
        )
    eventually(lambda: browser.find_element(By.ID, "replay-chosen").text == "Replay selected (2)")
    browser.find_element(By.ID, "replay-chosen").click()
    WebDriverWait(browser, 20).until(expected_conditions.alert_is_present())
    alert = browser.switch_to.alert
    assert "Replay 2 dead letters (kr: 2)" in alert.text
    alert.accept()
    eventually(
        lambda: "Replayed 2 message(s)." in browser.find_element(By.ID, "flash").text, what="the flash"
    )
    assert console.replays == [("kr", ["ccc-0001", "ccc-0002"], "alice")]


def test_a_dismissed_confirmation_replays_nothing_and_viewers_get_no_controls(
    served: tuple[Console, RunningServer], browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    console, server = served
    _login(browser, server.base_url, "alice", f"search/{CERT}")
    eventually(lambda: browser.find_element(By.CSS_SELECTOR, "#search-results a").click() or True)
    eventually(lambda: browser.find_element(By.CSS_SELECTOR, "button.replay").click() or True, what="replay")
    WebDriverWait(browser, 20).until(expected_conditions.alert_is_present())
    browser.switch_to.alert.dismiss()
    assert console.replays == []

    browser.find_element(By.ID, "logout").click()
    eventually(lambda: browser.current_url.endswith("/ops/login"), what="signed out")
    _login(browser, server.base_url, "bob", "dead-letters")
    eventually(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#dead-letters tbody tr")) == 2)
    assert browser.find_elements(By.CSS_SELECTOR, "button.replay, input.choose, #replay-chosen") == []
    assert "viewer" in browser.find_element(By.ID, "who-role").text


def test_a_slow_page_answered_after_the_operator_moved_on_does_not_draw_over_the_new_one(
    served: tuple[Console, RunningServer], browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The overview's read answers 2 s after login; by then the operator has asked for a
    search. Before the fix the late overview replaced the search results for good (the
    search page is not live, so nothing drew it again)."""
    import time

    from selenium.webdriver.common.by import By

    console, server = served
    overview = console.backend.overview

    def slow_overview() -> Any:
        time.sleep(2)
        return overview()

    monkeypatch.setattr(console.backend, "overview", slow_overview)
    _login(browser, server.base_url, "alice", f"search/{CERT}")  # login lands on the overview
    eventually(lambda: browser.find_elements(By.CSS_SELECTOR, "#search-results a"), what="search results")
    time.sleep(3)  # past the overview's late answer
    assert browser.find_elements(By.CSS_SELECTOR, "#search-results a"), (
        "the late overview drew over the search"
    )
