"""Headless Chromium (Debian's chromium + chromium-driver) driven by Selenium.

Missing browser: the test is skipped with the reason, except under CI=true, where it fails
(.ci/run installs both packages). Chromium runs with its background network calls off and a
throwaway profile: this machine refuses them, and a shared profile would leak sessions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
T = TypeVar("T")


def require_chromium() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if not missing:
        return
    reason = f"headless browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " and CI=true: the browser tests must run")
    pytest.skip(reason)


def chromium(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1440,1100",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver


def eventually(probe: Callable[[], T | None], timeout: float = 60, what: str = "the page") -> T:
    """Poll until probe returns something truthy; a re-rendered (stale) element is retried:
    the console re-renders its live pages every few seconds."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (StaleElementReferenceException, NoSuchElementException) as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} ({last!r})")
