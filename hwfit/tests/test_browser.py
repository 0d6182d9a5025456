"""The browser-test fixture itself: a real Chromium loads a page of the live server at both sizes."""

from hwfit.tests.browser import SCREENSHOT_DIR


def test_a_real_browser_renders_the_home_page_at_laptop_and_phone_size(browser):
    browser.open("/")
    assert browser.find("h1").text.startswith("Can model M")
    assert browser.js("return window.innerWidth") == 1366
    path = browser.screenshot("home")
    assert path == SCREENSHOT_DIR / "home-laptop.png" and path.read_bytes().startswith(b"\x89PNG")

    browser.resize("phone")
    browser.open("/")
    assert browser.js("return window.innerWidth") == 390
    # The page fits the phone's width: nothing pushes it sideways.
    assert browser.scroll_width() <= 390
    assert browser.screenshot("home").name == "home-phone.png"
    assert browser.console_errors() == []
