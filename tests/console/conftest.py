"""The console tests' fixtures: a console over a fresh audit store (with one dead letter, as an
operator first meets it) and a headless Chromium per test, skipped (or failed under CI=true)
when it is not installed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.browser import chromium, require_chromium
from tests.console.support import Console, dead_lettered, make_console


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


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    """A console whose store holds one dead-lettered kr message (tests/console/support.py)."""
    c = make_console(tmp_path)
    dead_lettered(c.audit)
    try:
        yield c
    finally:
        c.audit.close()
        c.archive.close()
