"""The console tests' browser: a headless Chromium per test, skipped (or failed under
CI=true) when it is not installed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.browser import chromium, require_chromium


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    require_chromium()
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    driver = chromium(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
