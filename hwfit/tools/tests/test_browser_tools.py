"""The tools in a real headless Chromium: change the inputs, see the working change; compare's
charts drawn; detect-my-device; phone-width pages that do not scroll sideways. Screenshots go to
reports/screenshots/ (hwfit/tests/browser.py)."""

from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

LLAMA = "/calculator/?model=llama-3-1-8b&quantization=q4-k-m&device=nvidia-geforce-rtx-4090&context_tokens=8192"


def text(browser, css: str) -> str:
    return browser.find(css).text


def reloaded(browser, old):
    """Wait until the page has been replaced (a submitted form's answer has loaded)."""
    browser.wait_for(lambda driver: browser.js("return document.readyState") == "complete"
                     and browser.find("h1") and browser.find("h1").id != old.id)


def test_the_calculator_shows_the_working_change_with_its_inputs(browser):
    browser.open(LLAMA)
    assert text(browser, ".answer-title").startswith("Llama 3.1 8B · Q4_K_M on NVIDIA GeForce RTX 4090")
    speed, total = text(browser, "#tokens-per-s"), text(browser, "#memory-total")
    browser.screenshot("calculator")

    # A longer context: a bigger KV cache and a slower decode pass, after Enter in the box.
    heading = browser.find("h1")
    box = browser.find("#f-context_tokens")
    box.clear()
    box.send_keys("65536", Keys.ENTER)
    reloaded(browser, heading)
    assert "context_tokens=65536" in browser.driver.current_url
    assert text(browser, "#memory-total") != total
    assert text(browser, "#tokens-per-s") != speed
    # Empty boxes stay out of the permalink.
    assert "prompt_tokens" not in browser.driver.current_url

    # Another quantization: the select answers at once (static/js/tools.js), no button needed.
    heading = browser.find("h1")
    Select(browser.find("#f-quantization")).select_by_value("q8-0")
    reloaded(browser, heading)
    assert text(browser, ".answer-title").startswith("Llama 3.1 8B · Q8_0 on NVIDIA GeForce RTX 4090")
    assert browser.console_errors() == []


def test_the_calculator_marks_a_bad_value_next_to_its_field(browser):
    browser.open(LLAMA + "&batch=0")
    assert text(browser, "#e-batch") == "Ensure this value is greater than or equal to 1."
    assert browser.find_all("#tokens-per-s") == []


def test_the_calculator_and_its_planner_on_a_phone(browser):
    browser.resize("phone")
    browser.open("/calculator/?model=llama-3-1-70b&quantization=q4-k-m&device=nvidia-geforce-rtx-4090"
                 "&context_tokens=8192&batch=4&target_tokens_per_s=20")
    assert text(browser, "#plan-answer").startswith("3 devices, tensor split:")
    # Wide tables scroll inside their box; the page itself keeps the phone's width.
    assert browser.scroll_width() <= 390
    box = browser.find("#plan").find_element("xpath", "..")
    assert browser.js("return arguments[0].scrollWidth > arguments[0].clientWidth", box)
    browser.screenshot("calculator")
    browser.resize("laptop")
    browser.open("/calculator/?model=llama-3-1-70b&quantization=q4-k-m&device=nvidia-geforce-rtx-4090"
                 "&context_tokens=8192&batch=4&target_tokens_per_s=20")
    browser.screenshot("calculator-planner")


def test_a_custom_device_typed_into_the_calculator(browser):
    browser.open(LLAMA)
    heading = browser.find("h1")
    Select(browser.find("#f-device")).select_by_value("custom")
    reloaded(browser, heading)
    # No kind yet: the API's reason, next to the field; the custom fields are open.
    assert text(browser, "#e-kind") == "This field is required."
    assert browser.find("#custom-device").get_attribute("open") is not None
    for name, value in (("device_name", "My 48 GB card"), ("memory_gb", "48"), ("memory_bandwidth_gbs", "960"),
                        ("fp16_tflops", "150")):
        browser.find(f"#f-{name}").send_keys(value)
    heading = browser.find("h1")
    Select(browser.find("#f-kind")).select_by_value("gpu")
    reloaded(browser, heading)
    assert "on My 48 GB card" in text(browser, ".answer-title")
    assert text(browser, ".answer-verdict") == "Fits on one device"


def test_compare_draws_its_charts_and_follows_the_form(browser):
    browser.open("/compare/?model=llama-3-1-8b&quantization=q4-k-m&device=nvidia-geforce-rtx-4090"
                 "&device=nvidia-h100-sxm&device=apple-m2-max")
    browser.wait_for(lambda d: browser.find_all("#compare-speed .main-svg") and browser.find_all("#compare-cost .main-svg"))
    assert len(browser.find_all("#compare-speed .bars .point")) == 3
    labels = [t.text for t in browser.find_all("#compare-speed .xtick text")]
    assert labels == ["NVIDIA GeForce RTX 4090", "NVIDIA H100 SXM", "Apple M2 Max"]
    browser.screenshot("compare")

    heading = browser.find("h1")
    Select(browser.find("#f-device-3")).select_by_value("nvidia-l4")
    browser.find("button[type=submit]").click()
    reloaded(browser, heading)
    browser.wait_for(lambda d: browser.find_all("#compare-speed .xtick text"))
    assert [t.text for t in browser.find_all("#compare-speed .xtick text")][2] == "NVIDIA L4"
    assert browser.console_errors() == []

    browser.resize("phone")
    browser.open("/compare/?model=llama-3-1-8b&quantization=q4-k-m&device=nvidia-geforce-rtx-4090"
                 "&device=nvidia-h100-sxm&device=apple-m2-max")
    browser.wait_for(lambda d: browser.find_all("#compare-cost .main-svg"))
    assert browser.scroll_width() <= 390
    browser.screenshot("compare")


def test_detect_my_device_proposes_the_gpu_the_browser_reports(browser):
    # Report an RTX 4070, as Chrome on such a PC does (headless Chromium reports a software renderer).
    script = browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        const real = WebGLRenderingContext.prototype.getParameter;
        WebGLRenderingContext.prototype.getParameter = function (name) {
          return name === 0x9246 ? "ANGLE (NVIDIA, NVIDIA GeForce RTX 4070 (0x00002786) Direct3D11 vs_5_0 ps_5_0, D3D11)"
                                 : real.call(this, name);
        };"""})
    try:
        browser.open("/")
        button = browser.find("[data-detect-button]")
        assert button.is_displayed()
        button.click()
        browser.wait_for(lambda d: "Proposed" in text(browser, "[data-detect-result]"))
        assert Select(browser.find("#f-device")).first_selected_option.get_attribute("value") == "nvidia-geforce-rtx-4070"
        assert "Proposed: NVIDIA GeForce RTX 4070" in text(browser, "[data-detect-result]")
        browser.screenshot("home-detect")
        browser.find("#pick-device button[type=submit]").click()
        browser.wait_for(lambda d: d.current_url.endswith("/devices/nvidia-geforce-rtx-4070/"))
    finally:
        browser.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def test_list_pages_fit_a_phone(browser):
    browser.resize("phone")
    for path, name in (("/devices/", "device-list"), ("/models/", "model-list"), ("/search/?q=gemma", "search"),
                       ("/", "home")):
        browser.open(path)
        assert browser.scroll_width() <= 390, path
        browser.screenshot(name)
    assert browser.console_errors() == []
