"""Inputs that once answered 500: each is now a 4xx in the API's error format (a JSON object)."""

import csv
import io

import pytest

from devices.models import Device
from hwfit.csv_cells import spreadsheet_safe
from hwfit.tests.api_fixtures import api, api_staff_user, staff_api, unthrottled  # noqa: F401

pytestmark = pytest.mark.django_db

SUPERSCRIPT_ONE = "\u00b9"  # '¹': str.isdigit() says yes, int() says no
ARABIC_THREE = "\u0663"     # '٣': int() reads it, but a page number is written in ASCII digits


@pytest.mark.parametrize("path", [
    "/api/v1/models/", "/api/v1/devices/", "/api/v1/api-prices/",
    "/api/v1/models/llama-3-1-8b/compatibility/", "/api/v1/devices/nvidia-h100-sxm/compatibility/",
])
@pytest.mark.parametrize("page", [SUPERSCRIPT_ONE, ARABIC_THREE, "0", "-1", "1.5", ""])
def test_a_page_that_is_not_an_ascii_whole_number_is_a_400_naming_page(api, path, page):
    response = api.get(path, {"page": page, "quantization": "q4-k-m"})
    assert response.status_code == 400
    assert response.json() == {"page": ["A page number is a whole number from 1."]}


@pytest.mark.parametrize("page_size", ["abc", SUPERSCRIPT_ONE, "0", "-5", "2.5"])
def test_a_page_size_that_is_not_a_whole_number_is_a_400_naming_page_size(api, page_size):
    response = api.get("/api/v1/models/", {"page_size": page_size})
    assert response.status_code == 400
    assert list(response.json()) == ["page_size"]
    assert response.json()["page_size"][0].startswith("A page size is a whole number from 1")


def test_a_page_size_is_honoured_on_the_compatibility_tables(api):
    response = api.get("/api/v1/models/llama-3-1-8b/compatibility/", {"page_size": "3", "quantization": "q4-k-m"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def nested(depth: int) -> str:
    return '{"model": ' + "[" * depth + "]" * depth + ', "quantization": "q4-k-m", "device": "apple-m2-max"}'


def test_json_nested_a_thousand_deep_is_a_400_parse_error(api):
    response = api.post("/api/v1/estimate/", nested(1000), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - the document is nested too deeply."}


def test_json_nested_nine_hundred_deep_is_a_clean_400(api):
    # Whether 900 levels parse depends on how deep the call stack already is: either the field is
    # named (parsed) or the parse error says why (too deep); never a 500.
    response = api.post("/api/v1/estimate/", nested(900), content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()) in (["model"], ["detail"])


def test_json_nested_too_deeply_in_a_catalog_write_is_a_400(staff_api):
    body = '{"name": "x", "source": ' + "[" * 5000 + "]" * 5000 + "}"
    response = staff_api.post("/api/v1/runtimes/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\ud83dy"])
def test_a_lone_surrogate_in_a_slug_is_a_400_not_echoed(api, escape):
    body = '{"model": "%s", "quantization": "q4-k-m", "device": "apple-m2-max"}' % escape
    response = api.post("/api/v1/estimate/", body, content_type="application/json")
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["detail"]


def test_a_lone_surrogate_in_a_catalog_write_is_a_400(staff_api):
    body = '{"name": "Runtime \\ud800", "slug": "surrogate", "source": "test"}'
    response = staff_api.post("/api/v1/runtimes/", body, content_type="application/json")
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["detail"]


def test_a_surrogate_pair_is_one_character_and_welcome(api):
    # "\ud83d\ude00" is the escaped form of one emoji: a valid string, so the answer is "unknown model".
    body = '{"model": "\\ud83d\\ude00", "quantization": "q4-k-m", "device": "apple-m2-max"}'
    response = api.post("/api/v1/estimate/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["model"] == [
        "Unknown model '\U0001f600': give a catalog slug or name, or an inline object."]


# --- CSV exports -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, written", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"), ("\r=1", "'\r=1"), ("RTX 4090", "RTX 4090"), ("a=b", "a=b"),
])
def test_text_a_spreadsheet_would_run_is_prefixed_with_an_apostrophe(text, written):
    assert spreadsheet_safe(text) == written


def test_numbers_stay_numbers_in_csv_cells():
    assert spreadsheet_safe(-1.5) == -1.5
    assert spreadsheet_safe(None) is None


def test_the_compatibility_csv_writes_formula_like_names_as_text(api):
    template = Device.objects.get(slug="nvidia-geforce-rtx-4090")
    names = ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tTabbed"]
    for index, name in enumerate(names):
        template.pk, template.slug, template.name = None, f"formula-{index}", name
        template.save()
    response = api.get("/api/v1/models/llama-3-1-8b/compatibility/", {"quantization": "q4-k-m", "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    written = {row["device.slug"]: row["device.name"] for row in rows if row["device.slug"].startswith("formula-")}
    assert written == {f"formula-{index}": "'" + name for index, name in enumerate(names)}
    # Negative figures are numbers, not text: they are left alone.
    assert all(not row["memory.headroom_bytes"].startswith("'") for row in rows)


ESTIMATE = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090"}


@pytest.mark.parametrize("body", [
    {**ESTIMATE, "context_tokens": 10**30},
    {"scenarios": [ESTIMATE, {**ESTIMATE, "batch": 2**64}]},
    {**ESTIMATE, "batch": -2**63 - 1},
    {**ESTIMATE, "quantization": {"name": "Q", "bits_per_weight": 4.5, "family": "gguf-kquant",
                                  "native_device_kinds": [10**30]}},
], ids=["huge-context", "huge-batch-in-a-batch", "huge-negative", "huge-int-inline"])
def test_an_integer_beyond_64_bits_is_a_400_not_a_500(api, body):
    # Cache keys are written before validation refuses such a number (hwfit.api_json.canonical_json).
    response = api.post("/api/v1/estimate/", body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert isinstance(response.json(), dict)
