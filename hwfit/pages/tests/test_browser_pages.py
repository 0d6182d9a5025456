"""The model and device pages in a real headless Chromium: change the form, see the table and the
charts change; screenshots at laptop and phone widths (reports/screenshots/, see hwfit/tests/browser.py)."""

from __future__ import annotations

import json

from selenium.webdriver.support.ui import Select

DGEMMA = "/models/diffusiongemma-26b-a4b-it/"
RTX_4090 = "/devices/nvidia-geforce-rtx-4090/"


def _charts_drawn(browser, *ids: str) -> None:
    browser.wait_for(lambda driver: all(
        driver.execute_script("var e = document.getElementById(arguments[0]); return e && e.dataset.drawn === 'true';", i)
        for i in ids))


def _plotted(browser, chart: str) -> str:
    """What plotly drew in a chart: its traces' x and y, as JSON (read from the graph div)."""
    return browser.js("return JSON.stringify(document.getElementById(arguments[0]).data.map("
                      "function (t) { return [t.name, t.x, t.y]; }));", chart)


def _cell_texts(browser, css: str) -> list[str]:
    return [element.text for element in browser.find_all(css)]


def _submit(browser, **values: str) -> None:
    for name, value in values.items():
        element = browser.find(f"#id_{name}")
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)
    old = browser.find("main h1")
    browser.find("form.controls button[type=submit]").click()
    browser.wait_for(lambda driver: not _attached(old))


def _attached(element) -> bool:
    try:
        element.tag_name
    except Exception:  # StaleElementReferenceException: the page was replaced
        return False
    return True


def _check_phone(browser, name: str) -> None:
    browser.resize("phone")
    # The page itself never scrolls sideways on a phone: wide tables scroll inside their box and
    # the charts redraw to the new width (plotly's own resize handler, a moment after the resize).
    browser.wait_for(lambda driver: browser.scroll_width() <= 390)
    browser.screenshot(name)
    browser.resize("laptop")


def test_the_diffusiongemma_page_follows_its_form_in_a_browser(browser):
    browser.open(DGEMMA + "?device=nvidia-geforce-rtx-4090")
    charts = ("chart-speed", "chart-context", "chart-memory", "chart-per-forward", "chart-batch")
    _charts_drawn(browser, *charts)
    assert "BF16 (safetensors)" in browser.find("p.lede").text
    memory_before = _cell_texts(browser, "#devices .memtext")
    plotted_before = {chart: _plotted(browser, chart) for chart in charts}
    browser.screenshot("model-diffusiongemma")

    _submit(browser, context_tokens="32768", quantization="q4-k-m")
    assert "context_tokens=32768" in browser.driver.current_url and "quantization=q4-k-m" in browser.driver.current_url
    _charts_drawn(browser, *charts)
    assert "Q4_K_M" in browser.find("p.lede").text
    assert browser.find("#id_context_tokens").get_attribute("value") == "32768"
    memory_after = _cell_texts(browser, "#devices .memtext")
    assert len(memory_after) == len(memory_before) == 161 and memory_after != memory_before
    for chart in ("chart-speed", "chart-memory", "chart-per-forward", "chart-batch"):
        assert _plotted(browser, chart) != plotted_before[chart], chart
    # The context chart now marks the 32,768 tokens asked for.
    assert 32768 in json.loads(_plotted(browser, "chart-context"))[0][1]
    assert browser.console_errors() == []
    browser.screenshot("model-diffusiongemma-32k-q4")
    _check_phone(browser, "model-diffusiongemma")


def test_the_rtx_4090_page_follows_its_form_in_a_browser(browser):
    browser.open(RTX_4090)
    _charts_drawn(browser, "chart-roofline")
    rows_before = _cell_texts(browser, "#fits tbody th")
    memory_before = _cell_texts(browser, "section.verdict-group .memtext")
    roofline_before = _plotted(browser, "chart-roofline")
    browser.screenshot("device-rtx-4090")

    _submit(browser, context_tokens="32768", quantization="q8-0")
    _charts_drawn(browser, "chart-roofline")
    assert "Q8_0" in browser.find("p.lede").text
    assert _cell_texts(browser, "section.verdict-group .memtext") != memory_before
    assert _cell_texts(browser, "#fits tbody th") != rows_before  # fewer models fit at 8 bits and 32k tokens
    assert _plotted(browser, "chart-roofline") != roofline_before
    assert browser.console_errors() == []
    browser.screenshot("device-rtx-4090-32k-q8")
    _check_phone(browser, "device-rtx-4090")
