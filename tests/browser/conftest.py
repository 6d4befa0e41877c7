"""What every browser test shares: Debian's Chromium, driven by Playwright.

Playwright never downloads a browser here: it drives the system's Chromium by path, and
a missing one is a clear failure naming the package, never a skip.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright


def chromium() -> str:
    """The system's Chromium; a clear failure, never a skip, when it is not installed."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "Chromium is not installed; the browser tests need it: "
            "sudo apt-get install chromium (Debian's package; Playwright never downloads one)"
        )
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for one test, closed after it."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium(), headless=True)
        try:
            yield launched
        finally:
            await launched.close()
