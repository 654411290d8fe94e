"""The Overview card in headless Chromium tells a partner's health with its reason: a SOAP
push partner without an endpoint is "not configured", said on its card, not "healthy"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.amqp.isolated import World
from tests.console.browser import eventually
from tests.console.support import PASSWORDS
from tests.test_health import start_with_a_partner_without_endpoint

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


def test_the_overview_card_says_not_configured_and_why(world: World, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    running = start_with_a_partner_without_endpoint(world, tmp_path)
    reason = running.ready["checks"]["partners"]["eu"]["reason"]
    driver = browser
    driver.get(f"{running.base}/ops/")
    eventually(lambda: driver.find_element(By.ID, "username"), what="the login form")
    driver.find_element(By.ID, "username").send_keys("bob")
    driver.find_element(By.ID, "password").send_keys(PASSWORDS["bob"])
    driver.find_element(By.ID, "login").click()
    card = '.card[data-partner="eu"]'
    badge = eventually(
        lambda: driver.find_element(By.CSS_SELECTOR, f"{card} .title .badge").get_attribute("data-state"),
        what="the eu card",
    )
    assert badge == "not_configured"
    shown = driver.find_element(By.CSS_SELECTOR, f"{card} .reason").text
    assert shown == reason and "soap_outbound_url" in shown
    assert "healthy" not in driver.find_element(By.CSS_SELECTOR, card).text.lower().replace(
        "not_configured", ""
    )
