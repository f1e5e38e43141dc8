"""What the opt-in browser tests share: finding headless Chromium and Selenium, the opt-in switch,
a ``browser`` fixture and a polling wait.

A test module uses them as::

    from headless_browser import REQUIREMENTS, browser, wait_for  # noqa: F401 (browser is a fixture)
    pytestmark = REQUIREMENTS

They need Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium chromium-driver``)
and the Selenium package (``pip install selenium``; deliberately not a project dependency), and run
only with ``TUTORIAL_BROWSER_TESTS=1``.
"""
import importlib.util
import os
import shutil
import time

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
OPTED_IN = os.environ.get("TUTORIAL_BROWSER_TESTS", "").strip().lower() in {"1", "true", "yes", "on"}

REQUIREMENTS = [
    pytest.mark.skipif(not OPTED_IN, reason="browser check is opt-in: set TUTORIAL_BROWSER_TESTS=1"),
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)"),
    pytest.mark.skipif(importlib.util.find_spec("selenium") is None,
                       reason="needs the selenium package (pip install selenium)"),
]


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium driven by Selenium, with its profile in the test's temporary folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    """Poll ``predicate`` until it returns something true (and return that), or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
