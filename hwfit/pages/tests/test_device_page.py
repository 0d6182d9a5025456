"""The device page 'what runs on this': every catalog model, grouped by verdict, from the API's code path."""

import re

import pytest

from estimator.core.grades import GRADES
from models_catalog.models import ModelArchitecture

pytestmark = pytest.mark.django_db

RTX_4090 = "/devices/nvidia-geforce-rtx-4090/"
GROUP_OF_VERDICT = {"fits": "fits", "offload": "offload", "multi_device": "multi_device", "no_fit": "no_fit",
                    "unsupported": "no_fit", "unknown": "unknown"}


def test_it_lists_every_catalog_model_once_in_the_group_of_its_verdict(client):
    response = client.get(RTX_4090)
    assert response.status_code == 200
    page = response.context["page"]
    slugs = [row.record["model"]["slug"] for group in page.groups for row in group.rows]
    assert sorted(slugs) == sorted(ModelArchitecture.objects.values_list("slug", flat=True))
    for group in page.groups:
        assert {GROUP_OF_VERDICT[row.record["verdict"]] for row in group.rows} == {group.key}
    # Groups in the order people read them: what runs first, what is unknown last.
    order = ["fits", "offload", "multi_device", "no_fit", "unknown"]
    keys = [group.key for group in page.groups]
    assert keys == sorted(keys, key=order.index)
    body = response.content.decode()
    # What runs is open; the other groups are folded (a <details>, no script needed).
    assert '<details id="fits" class="verdict-group" open>' in body and "Runs on one device" in body
    assert '<details id="no_fit" class="verdict-group">' in body


def test_it_sorts_each_group_by_grade_then_fastest_first(client):
    page = client.get(RTX_4090).context["page"]
    for group in page.groups:
        # "S×8" is S on eight devices: after the S of one device, before A.
        keys = []
        for row in group.rows:
            grade, _, devices = row.record["grade"].partition("×")
            keys.append((GRADES.index(grade), int(devices or 1), -(row.record["tokens_per_s"] or -1.0)))
        assert keys == sorted(keys)


def test_it_shows_the_same_figures_as_the_estimate_api(client):
    query = {"quantization": "q4-k-m", "context_tokens": 8192}
    page = client.get(RTX_4090, query).context["page"]
    row = next(row for row in page.rows if row.record["model"]["slug"] == "llama-3-1-8b")
    api = client.get("/api/v1/estimate/", {"model": "llama-3-1-8b", "device": "nvidia-geforce-rtx-4090", **query}).json()
    for key in ("verdict", "grade", "tokens_per_s", "ttft_s", "bound", "error_band", "runtime"):
        assert row.record[key] == api[key], key
    assert row.record["memory"] == api["memory"]
    assert row.record["cost"] == api["cost"]


def test_it_explains_the_peak_the_estimate_uses_when_it_is_not_the_spec_sheets(client):
    body = client.get(RTX_4090, {"quantization": "f16"}).content.decode()
    # The spec sheet lists 165.2 TFLOPS FP16 (FP32 accumulate); llama.cpp accumulates in FP16,
    # which a GeForce card runs at twice that: 2 x 165.2 = 330.4.
    assert "F16 on llama.cpp: the estimate uses 330 TFLOPS, not the 165 FP16 peak shown above" in body
    body = client.get(RTX_4090, {"quantization": "q4-k-m"}).content.decode()
    # Q4_K_M's dtype is FP16, but llama.cpp multiplies its blocks with INT8 dot products: 661 TOPS listed.
    assert ("Q4_K_M on llama.cpp: the estimate uses the INT8 peak (661 TOPS), not the FP16 one of the format&#x27;s "
            "dtype") in body


def test_it_shows_a_fallback_peak_as_such(client):
    body = client.get("/devices/nvidia-geforce-rtx-3090/", {"quantization": "fp8-e4m3-w8a8"}).content.decode()
    # Ampere has no FP8 tensor cores: FP8 weights run FP16 math at the card's listed 71 TFLOPS.
    assert ("FP8 E4M3 (W8A8) on vLLM and HF transformers: no FP8 peak is published for this device; the estimate "
            "falls back to the FP16 peak (71 TFLOPS), the first published in the chain FP8 → half the FP4 → FP16") in body


def test_it_names_the_runtime_the_estimates_assume(client):
    body = client.get(RTX_4090, {"quantization": "q4-k-m"}).content.decode()
    assert re.search(r"Estimates assume <strong>llama\.cpp, HF transformers</strong> \(the default", body)


def test_every_row_links_to_its_calculator_permalink(client):
    response = client.get(RTX_4090, {"quantization": "q8-0", "context_tokens": 16384})
    body = response.content.decode()
    assert ('href="/calculator/?model=llama-3-1-8b&amp;device=nvidia-geforce-rtx-4090&amp;quantization=q8-0'
            '&amp;context_tokens=16384"') in body
    assert body.count('class="calc"') == ModelArchitecture.objects.count()


def test_the_form_round_trips_through_the_url_without_javascript(client):
    response = client.get(RTX_4090, {"quantization": "q8-0", "context_tokens": "16384", "batch": "4",
                                     "family": "Qwen", "fits_only": "on"})
    assert response.status_code == 200
    body = response.content.decode()
    assert '<option value="q8-0" selected>Q8_0</option>' in body
    assert 'name="context_tokens" id="id_context_tokens" value="16384"' in body
    assert 'name="batch" id="id_batch" value="4"' in body
    assert '<option value="Qwen" selected>Qwen</option>' in body
    assert 'name="fits_only" id="id_fits_only" checked' in body
    page = response.context["page"]
    assert page.rows and {row.record["verdict"] for row in page.rows} == {"fits"}
    assert {row.record["quantization"]["slug"] for row in page.rows} == {"q8-0"}
    assert {row.record["workload"]["context_tokens"] for row in page.rows} == {16384}
    families = dict(ModelArchitecture.objects.values_list("slug", "family"))
    assert {families[row.record["model"]["slug"]] for row in page.rows} == {"Qwen"}


@pytest.mark.parametrize("query, field, reason", [
    ({"context_tokens": "0"}, "context_tokens", "Ensure this value is greater than or equal to 1."),
    ({"batch": "many"}, "batch", "A valid integer is required."),
    ({"quantization": "q9-z"}, "quantization", "Unknown quantization &#x27;q9-z&#x27;."),
    ({"runtime": "turbo"}, "runtime", "Unknown runtime &#x27;turbo&#x27;"),
])
def test_a_bad_control_is_a_400_with_the_reason_next_to_the_field(client, query, field, reason):
    response = client.get(RTX_4090, query)
    assert response.status_code == 400
    body = response.content.decode()
    error = re.search(rf'<p class="error" id="err_{field}" role="alert">([^<]*)</p>', body)
    assert error and reason in error.group(1)


def test_a_bad_value_of_a_control_the_page_does_not_show_is_named_at_the_top(client):
    response = client.get(RTX_4090, {"kind": "quantum"})
    assert response.status_code == 400
    assert "kind: Unknown kind &#x27;quantum&#x27;: one of gpu, apple, tpu, cpu, npu." in response.content.decode()


def test_it_draws_a_roofline_from_a_json_script_without_inline_code(client):
    body = client.get(RTX_4090).content.decode()
    assert 'data-figure="chart-roofline-data"' in body
    assert '<script id="chart-roofline-data" type="application/json">' in body
    assert "ridge" in body
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", body, flags=re.S)
    for attributes, code in scripts:
        # Either a file of the app's own, or data: never code inline (a strict CSP holds).
        assert ('src="/static/' in attributes and not code) or 'type="application/json"' in attributes


def test_it_formats_the_cloud_offers_with_a_unit_and_thousands(client):
    body = client.get(RTX_4090).content.decode()
    assert "<td class=\"num\">$0.29</td>" in body  # OpenRelay, 1 x RTX 4090 at 0.29 $/GPU-hour
    assert "1599.0" not in body and "$1,599" in body


def test_its_queries_do_not_grow_with_the_catalog(client, django_assert_max_num_queries):
    # Device, offers, the form's choices, the models' families, the device picker, one catalog load
    # (its calibrations included) for the table, the accuracy ledger's measured runs, and the
    # catalog's version (the load is kept in memory after: estimator/services/catalog_cache.py).
    with django_assert_max_num_queries(15):
        client.get(RTX_4090)
    with django_assert_max_num_queries(15):
        client.get("/devices/nvidia-h100-sxm/", {"quantization": "bf16-safetensors", "context_tokens": 32768})


def test_it_shows_the_compute_units_and_clock_that_cap_decoding(client):
    groups = dict(client.get("/devices/nvidia-a100-80gb-pcie/").context["groups"])
    rows = {row.label: row for row in groups["Compute units"]}
    assert "108" in rows["compute units"].text and "1410" in rows["boost clock (MHz)"].text.replace(",", "")
