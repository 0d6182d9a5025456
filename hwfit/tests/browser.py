"""Browser tests: a real headless Chromium (Debian's `chromium` + `chromium-driver`) on a live server.

A pytest plugin (registered in the root conftest.py). A test asks for `browser` and gets a
`Browser` on pytest-django's live server with the seeded catalog, at the laptop size:

    def test_it_changes_the_working(browser):
        browser.open("/calculator/?model=llama-3-1-8b")
        browser.resize("phone")
        browser.screenshot("calculator")   # reports/screenshots/calculator-phone.png

Every test that uses the fixture is marked `browser` (`-m browser` selects them, `-m "not browser"`
leaves them out); they run by default. Nothing downloads a browser: the binaries are found on the
PATH (or HWFIT_CHROMIUM / HWFIT_CHROMEDRIVER), and a missing one fails the test naming the Debian
packages — never a skip, so CI cannot pass without running them. `make browser` installs them.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command

# Selenium's driver manager must not look for (or download) a driver: ours is given explicitly.
os.environ.setdefault("SE_OFFLINE", "true")

# Width x height in CSS pixels; "phone" is emulated as a mobile viewport (the page's
# `<meta name="viewport">` applies, as on a real phone).
SIZES: dict[str, tuple[int, int]] = {"laptop": (1366, 900), "phone": (390, 844)}
BASE_DIR = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = Path(os.environ.get("HWFIT_SCREENSHOTS", BASE_DIR / "reports" / "screenshots"))
# A full-page screenshot taller than this is cut: a long table is not worth a 50 MB PNG.
MAX_SCREENSHOT_HEIGHT = 8000
CATALOG_FIXTURE = BASE_DIR / "fixtures" / "catalog.json"
MISSING = ("The browser tests drive Debian's chromium with chromium-driver and cannot find {what}. "
           "Install them with `make browser` (apt-get install chromium chromium-driver), point "
           "HWFIT_CHROMIUM / HWFIT_CHROMEDRIVER at them, or leave these tests out with -m 'not browser'.")


def _binary(env: str, names: tuple[str, ...]) -> str | None:
    given = os.environ.get(env)
    if given:
        return given if Path(given).exists() else None
    return next((path for path in map(shutil.which, names) if path), None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@dataclass
class Browser:
    """A Chromium window on the live server, with the few verbs page tests need."""

    driver: object  # selenium.webdriver.Chrome
    base_url: str
    size: str = "laptop"

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def resize(self, size: str) -> None:
        width, height = SIZES[size]
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"})
        self.size = size

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_for(self, condition, timeout: float = 10):
        """Wait until `condition(driver)` is truthy (e.g. a chart drawn by plotly); returns it."""
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(condition)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def console_errors(self) -> list[str]:
        """Messages the page logged at error level since the last call (a failed script, a 404 asset).

        The browser's own request for /favicon.ico is not the page's: it is left out.
        """
        return [entry["message"] for entry in self.driver.get_log("browser")
                if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]]

    def scroll_width(self) -> int:
        """How wide the page is laid out: wider than the viewport = the page scrolls sideways."""
        return int(self.js("return document.documentElement.scrollWidth"))

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """Save `<name>-<size>.png` to the screenshot folder (reports/screenshots/ or HWFIT_SCREENSHOTS)."""
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}-{self.size}.png"
        params: dict = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            content = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            width = SIZES[self.size][0]
            params["clip"] = {"x": 0, "y": 0, "width": width, "scale": 1,
                              "height": min(content["height"], MAX_SCREENSHOT_HEIGHT)}
        data = self.driver.execute_cdp_cmd("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path


@pytest.fixture(scope="session")
def chromium_driver() -> Iterator[object]:
    """One headless Chromium for the whole run (starting one takes about a second)."""
    chromium = _binary("HWFIT_CHROMIUM", ("chromium", "chromium-browser", "google-chrome"))
    chromedriver = _binary("HWFIT_CHROMEDRIVER", ("chromedriver",))
    if chromium is None or chromedriver is None:
        pytest.fail(MISSING.format(what="chromium" if chromium is None else "chromedriver"), pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    width, height = SIZES["laptop"]
    # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-extensions", "--no-first-run", "--hide-scrollbars", f"--window-size={width},{height}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def browser(transactional_db, live_server, chromium_driver) -> Iterator[Browser]:
    """A Chromium window at the laptop size on the live server, with the seeded catalog.

    The live server answers from its own connection, so the catalog must be committed: these
    tests run on a transactional database (emptied after each test), and the catalog is loaded
    again when the previous test emptied it. (The database comes first among the arguments so
    that the live server, started after it, stops before the test database is dropped.)
    """
    from devices.models import Device

    if not Device.objects.exists():
        call_command("loaddata", str(CATALOG_FIXTURE), verbosity=0)
    window = Browser(driver=chromium_driver, base_url=live_server.url)
    window.resize("laptop")
    chromium_driver.get_log("browser")  # forget the previous test's messages
    yield window
    chromium_driver.delete_all_cookies()
