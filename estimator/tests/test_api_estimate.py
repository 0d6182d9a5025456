"""POST/GET /api/v1/estimate/: one scenario, a batch of up to 1,000, by slug, name or inline object."""

import json
from unittest import mock

import pytest

from bench.estimate_batch import batch_of_1000
from devices.models import CloudOffer, Device
from estimator.core import pipeline
from estimator.services import catalog_cache
from hwfit.tests.api_fixtures import api, unthrottled  # noqa: F401
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime

pytestmark = pytest.mark.django_db

URL = "/api/v1/estimate/"
LLAMA_ON_4090 = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090"}


def strict_json(response):
    """The body parsed as JSON that allows no NaN or Infinity (what browsers and most clients accept)."""
    def refuse(constant):
        raise AssertionError(f"{constant} in JSON")
    return json.loads(response.content, parse_constant=refuse)


def catalog_row(model, slug: str) -> dict:
    """A catalog record as the catalog endpoint returns it, to paste inline."""
    return model.objects.filter(slug=slug).values()[0]


# --- One scenario --------------------------------------------------------------------------------

def test_it_estimates_one_scenario_for_anonymous_clients(api):
    response = api.post(URL, LLAMA_ON_4090, format="json")
    assert response.status_code == 200
    body = strict_json(response)
    assert body["model"] == {"slug": "llama-3-1-8b", "name": "Llama 3.1 8B", "inline": False}
    assert (body["fits"], body["verdict"], body["mode"], body["bound"]) == (True, "fits", "decode", "memory")
    assert body["tokens_per_s"] == body["speed"]["decode_tokens_per_s"] > 0
    assert body["ttft_s"] > 0 and body["grade"] in ("SS", "S", "A", "B", "C")
    assert body["calibrated"] is False and 0 < body["error_band"] < 1
    assert body["working"]["pass_s"] == body["working"]["decode_pass_s"] == pytest.approx(1 / body["tokens_per_s"])


def test_it_shows_the_flops_and_bytes_behind_the_pass_time(api):
    working = api.post(URL, LLAMA_ON_4090, format="json").json()["working"]
    # A batch-1 decode pass is memory-bound: its memory term is bytes / (bandwidth x eff_m).
    assert working["decode_bytes"] > working["decode_flops"] / 100
    assert working["decode_memory_s"] == pytest.approx(
        working["decode_bytes"] / min(working["bandwidth_bytes_per_s"] * working["eff_m"],
                                      working["bandwidth_cap_bytes_per_s"]), rel=0.2)
    assert working["prefill_flops"] > 1000 * working["decode_flops"]
    assert working["diffusion_flops"] is None  # an autoregressive model has no diffusion working


def test_it_counts_the_forwards_of_a_diffusion_generation(api):
    body = api.post(URL, {"model": "diffusiongemma-26b-a4b-it", "quantization": "bf16-safetensors",
                          "device": "nvidia-h200-sxm", "gen_tokens": 512, "tokens_per_forward": 16}, format="json").json()
    working = body["working"]
    # Two blocks of 256: 16 denoising steps each plus one commit forward each.
    assert working["diffusion_forwards"] == pytest.approx(2 * (16 + 1))
    assert working["diffusion_flops"] > 0 and working["diffusion_bytes"] > 0


def test_the_weights_are_the_parameters_times_the_bits_per_weight(api):
    body = api.post(URL, LLAMA_ON_4090, format="json").json()
    bits = QuantizationFormat.objects.get(slug="q4-k-m").bits_per_weight
    # Llama 3.1 8B is dense: 8.0e9 parameters x 4.8944 bits / 8 = 4.8944e9 bytes.
    assert body["memory"]["weights_bytes"] == pytest.approx(8.0e9 * bits / 8)
    memory = body["memory"]
    parts = ("weights_bytes", "vision_bytes", "kv_cache_bytes", "activations_bytes", "logits_bytes", "overhead_bytes")
    assert memory["total_bytes"] == pytest.approx(sum(memory[part] for part in parts))
    assert memory["headroom_bytes"] == pytest.approx(memory["usable_bytes"] - memory["total_bytes"])


def test_it_answers_what_the_core_computes_for_the_same_rows(api):
    body = api.post(URL, {**LLAMA_ON_4090, "context_tokens": 16384, "batch": 4}, format="json").json()
    rows = [catalog_row(m, slug) for m, slug in ((ModelArchitecture, "llama-3-1-8b"),
                                                 (QuantizationFormat, "q4-k-m"), (Device, "nvidia-geforce-rtx-4090"))]
    core = pipeline.estimate_one(*rows, context=16384, batch=4)
    assert body["tokens_per_s"] == pytest.approx(core["decode_tok_s"])
    # 4 sequences x 16384 tokens x 32 layers x (K and V) x 8 KV heads x 128 dims x 2 bytes = 8 GiB.
    assert body["memory"]["kv_cache_bytes"] == 4 * 16384 * 32 * 2 * 8 * 128 * 2 == 8 * 2**30
    assert body["workload"]["context_tokens"] == 16384 and body["workload"]["batch"] == 4


def test_it_finds_records_by_name_whatever_the_case(api):
    by_name = api.post(URL, {"model": "llama 3.1 8b", "quantization": "Q4_K_M", "device": "NVIDIA GeForce RTX 4090"},
                       format="json").json()
    by_slug = api.post(URL, LLAMA_ON_4090, format="json").json()
    assert by_name == by_slug


def test_the_get_form_answers_like_the_post(api):
    assert api.get(URL, LLAMA_ON_4090).json() == api.post(URL, LLAMA_ON_4090, format="json").json()


def test_it_reports_the_mode_asked_for(api):
    prefill = api.post(URL, {**LLAMA_ON_4090, "mode": "prefill", "prompt_tokens": 2048}, format="json").json()
    assert prefill["mode"] == "prefill"
    assert prefill["tokens_per_s"] == prefill["speed"]["prefill_tokens_per_s"]
    assert prefill["bound"] == prefill["speed"]["prefill_bound"]
    assert prefill["workload"]["prompt_tokens"] == 2048


def test_a_diffusion_model_is_estimated_as_diffusion_by_default(api):
    body = api.post(URL, {"model": "sdar-8b-chat", "quantization": "bf16", "device": "nvidia-h100-sxm"},
                    format="json").json()
    assert body["mode"] == "diffusion"
    assert body["tokens_per_s"] == body["speed"]["diffusion_tokens_per_s"] > 0
    assert body["workload"]["block_size"] and body["workload"]["steps_per_block"]


def test_it_refuses_the_diffusion_mode_for_an_autoregressive_model(api):
    response = api.post(URL, {**LLAMA_ON_4090, "mode": "diffusion"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["mode"]


def test_without_offload_a_model_too_big_for_the_card_needs_more_cards(api):
    seventy_b = {"model": "llama-3-1-70b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090"}
    offloaded = api.post(URL, seventy_b, format="json").json()
    assert (offloaded["verdict"], offloaded["fits"]) == ("offload", False)
    assert offloaded["layers_on_device"] < 80
    no_offload = api.post(URL, {**seventy_b, "offload": False}, format="json").json()
    assert no_offload["verdict"] == "multi_device"
    assert no_offload["devices_needed"] == no_offload["workload"]["device_count"] == 2
    two_cards = api.post(URL, {**seventy_b, "device_count": 2}, format="json").json()
    assert (two_cards["verdict"], two_cards["fits"]) == ("fits", True)


def test_it_costs_tokens_with_the_sites_energy_price_unless_given_one(api, settings):
    settings.HWFIT_USD_PER_KWH = 0.30
    default = api.post(URL, LLAMA_ON_4090, format="json").json()["cost"]
    given = api.post(URL, {**LLAMA_ON_4090, "usd_per_kwh": 0.15}, format="json").json()["cost"]
    assert default["usd_per_kwh"] == 0.30 and given["usd_per_kwh"] == 0.15
    # The RTX 4090's 450 W for the hours a million tokens take at batch 1, at $0.15/kWh.
    speed = api.post(URL, LLAMA_ON_4090, format="json").json()["speed"]
    hours = 1e6 / speed["generation_tokens_per_s_batch1"] / 3600
    assert given["power_w"] == 450.0
    assert given["energy_usd_per_mtok"] == pytest.approx(0.450 * hours * 0.15)
    assert given["energy_usd_per_mtok"] == pytest.approx(default["energy_usd_per_mtok"] / 2)


def test_it_prices_tokens_with_the_cheapest_cloud_offer_and_api(api):
    body = api.post(URL, {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": "nvidia-h100-sxm"},
                    format="json").json()
    cost = body["cost"]
    # The cheapest H100 SXM offer (its price is per GPU-hour, whatever the instance's GPU count), and
    # the cheapest 70/30 blend of Llama 3.1 8B's API prices.
    per_gpu = min(offer.usd_per_hour for offer in CloudOffer.objects.filter(device__slug="nvidia-h100-sxm"))
    blended = min(0.7 * price.usd_per_1m_input + 0.3 * price.usd_per_1m_output
                  for price in ApiPrice.objects.filter(model__slug="llama-3-1-8b"))
    assert cost["rental_usd_per_hour"] == pytest.approx(per_gpu)
    assert cost["api_usd_per_mtok"] == pytest.approx(blended)
    # $/h over tokens per hour, per million tokens.
    assert cost["rental_usd_per_mtok"] == pytest.approx(per_gpu / (body["tokens_per_s"] * 3600) * 1e6)


def test_unknown_figures_are_null_never_nan(api):
    device = Device.objects.filter(memory_gb__isnull=True).first()  # configurable memory: nothing to compare
    response = api.post(URL, {**LLAMA_ON_4090, "device": device.slug}, format="json")
    assert response.status_code == 200
    body = strict_json(response)
    assert (body["verdict"], body["fits"], body["grade"]) == ("unknown", None, "?")
    assert body["memory"]["usable_bytes"] is None


# --- Inline objects ----------------------------------------------------------------------------

def test_it_estimates_a_device_that_is_not_in_the_catalog(api):
    device = {"name": "My 4090", "kind": "gpu", "memory_gb": 24, "memory_bandwidth_gbs": 1008, "fp16_tflops": 165.2,
              "tdp_w": 450}
    body = api.post(URL, {**LLAMA_ON_4090, "device": device}, format="json").json()
    assert body["device"] == {"slug": None, "name": "My 4090", "inline": True}
    assert body["fits"] is True and body["tokens_per_s"] > 0
    assert body["calibrated"] is False and body["cost"]["rental_usd_per_hour"] is None


def test_a_pasted_catalog_record_estimates_like_its_slug(api):
    # The catalog endpoint's own answer, extra fields (created_at, usable_memory_gb) and all.
    device = api.get("/api/v1/devices/nvidia-geforce-rtx-4090/").json()
    model = api.get("/api/v1/models/llama-3-1-8b/").json()
    inline = api.post(URL, {"model": model, "quantization": "q4-k-m", "device": device}, format="json").json()
    by_slug = api.post(URL, LLAMA_ON_4090, format="json").json()
    assert inline["tokens_per_s"] == pytest.approx(by_slug["tokens_per_s"])
    assert inline["memory"] == by_slug["memory"]
    assert inline["model"]["inline"] and inline["device"]["inline"]


def test_it_estimates_a_quantization_that_is_not_in_the_catalog(api):
    quant = {"name": "My Q5", "family": "gguf", "bits_per_weight": 5.0, "compute_dtype": "fp16"}
    body = api.post(URL, {**LLAMA_ON_4090, "quantization": quant}, format="json").json()
    assert body["quantization"] == {"slug": None, "name": "My Q5", "inline": True}
    # Llama 3.1 8B is dense: 8.0e9 parameters x 5 bits / 8 = 5.0e9 bytes.
    assert body["memory"]["weights_bytes"] == 5.0e9
    assert body["fits"] is True and body["tokens_per_s"] > 0


def test_an_inline_quantization_says_which_devices_run_it(api):
    # Kernels only for Apple GPUs: on an NVIDIA card the format is unsupported, not estimated.
    quant = {"name": "Metal only", "family": "gguf", "bits_per_weight": 4.5, "compute_dtype": "fp16",
             "native_device_kinds": ["apple"]}
    body = api.post(URL, {**LLAMA_ON_4090, "quantization": quant}, format="json").json()
    assert (body["verdict"], body["tokens_per_s"]) == ("unsupported", None)
    on_a_mac = api.post(URL, {**LLAMA_ON_4090, "quantization": quant, "device": "apple-m2-max"}, format="json").json()
    assert on_a_mac["verdict"] != "unsupported"


def test_a_pasted_catalog_quantization_estimates_like_its_slug(api):
    quant = api.get("/api/v1/quantizations/q4-k-m/").json()
    inline = api.post(URL, {**LLAMA_ON_4090, "quantization": quant}, format="json").json()
    by_slug = api.post(URL, LLAMA_ON_4090, format="json").json()
    assert inline["memory"] == by_slug["memory"]
    assert inline["tokens_per_s"] == pytest.approx(by_slug["tokens_per_s"])


def test_an_inline_quantization_is_held_to_the_catalogs_invariants(api):
    quant = {"name": "Too wide", "family": "gguf", "bits_per_weight": 40, "compute_dtype": "fp16"}
    response = api.post(URL, {**LLAMA_ON_4090, "quantization": quant}, format="json")
    assert response.status_code == 400
    assert response.json() == {"quantization": {"bits_per_weight": ["Bits per weight must be greater than 0 and at most 32."]}}


def test_it_names_each_bad_field_of_an_inline_object(api):
    device = {"kind": "gpu", "memory_gb": 24, "memory_bandwidth_gbs": 0, "usable_memory_fraction": 2}
    response = api.post(URL, {**LLAMA_ON_4090, "device": device}, format="json")
    assert response.status_code == 400
    assert response.json() == {"device": {
        "memory_bandwidth_gbs": ["Memory bandwidth (GB/s) must be greater than 0 (leave it empty if unknown)."],
        "usable_memory_fraction": ["The usable memory fraction must be greater than 0 and at most 1."],
    }}


def test_an_inline_model_is_held_to_the_catalogs_invariants(api):
    model = {"total_params_b": 8, "active_params_b": 9, "n_layers": 32, "hidden_size": 4096}
    response = api.post(URL, {**LLAMA_ON_4090, "model": model}, format="json")
    assert response.status_code == 400
    assert response.json() == {"model": {"active_params_b": ["Active parameters (9B) cannot exceed total parameters (8B)."]}}


def test_an_inline_object_needs_the_fields_the_estimator_cannot_do_without(api):
    response = api.post(URL, {**LLAMA_ON_4090, "device": {"memory_gb": 24}}, format="json")
    assert response.status_code == 400
    assert response.json()["device"] == {"kind": ["This field is required."]}


# --- Errors --------------------------------------------------------------------------------------

def test_it_names_an_unknown_record(api):
    response = api.post(URL, {**LLAMA_ON_4090, "device": "no-such-gpu", "runtime": "warp-drive"}, format="json")
    assert response.status_code == 400
    runtimes = ", ".join(Runtime.objects.order_by("slug").values_list("slug", flat=True))
    assert response.json() == {
        "device": ["Unknown device 'no-such-gpu': give a catalog slug or name, or an inline object."],
        "runtime": [f"Unknown runtime 'warp-drive': one of {runtimes}."],
    }


def test_it_names_each_bad_workload_field(api):
    response = api.post(URL, {**LLAMA_ON_4090, "batch": 0, "kv_cache_dtype": "fp7", "context_tokens": "long"},
                        format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"batch", "kv_cache_dtype", "context_tokens"}


def test_a_prompt_cannot_be_longer_than_the_context(api):
    response = api.post(URL, {**LLAMA_ON_4090, "context_tokens": 1024, "prompt_tokens": 2048}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["prompt_tokens"]


def test_it_rejects_a_context_longer_than_the_models_window_with_a_field_error(api):
    # Llama 3.1 8B reads 131,072 tokens: a 200K context is not a slower estimate, it is impossible.
    response = api.post(URL, {**LLAMA_ON_4090, "context_tokens": 200_000}, format="json")
    assert response.status_code == 400
    assert response.json() == {"context_tokens": [
        "Llama 3.1 8B reads at most 131,072 tokens (its max_context); context_tokens is 200,000."]}
    assert api.post(URL, {**LLAMA_ON_4090, "context_tokens": 131_072}, format="json").status_code == 200
    query = api.get(URL, {**LLAMA_ON_4090, "context_tokens": 200_000})
    assert (query.status_code, list(query.json())) == (400, ["context_tokens"])


def test_a_batch_names_the_scenario_whose_context_exceeds_its_window(api):
    response = api.post(URL, {"scenarios": [LLAMA_ON_4090, {**LLAMA_ON_4090, "context_tokens": 200_000}]},
                        format="json")
    assert response.status_code == 400
    assert list(response.json()["scenarios"]) == ["1"]
    assert list(response.json()["scenarios"]["1"]) == ["context_tokens"]


def test_it_flags_a_default_context_beyond_the_models_window(api):
    # Dream 7B reads 2,048 tokens; the default context (4,096) is longer, and the answer says so.
    dream = api.post(URL, {"model": "dream-7b-instruct-v0", "quantization": "bf16", "device": "nvidia-h100-sxm"},
                     format="json").json()
    assert (dream["workload"]["context_tokens"], dream["context_within_window"]) == (4096, False)
    assert api.post(URL, LLAMA_ON_4090, format="json").json()["context_within_window"] is True
    # SDAR 8B publishes no window: unknown, not true.
    sdar = api.post(URL, {"model": "sdar-8b-chat", "quantization": "bf16", "device": "nvidia-h100-sxm"},
                    format="json").json()
    assert sdar["context_within_window"] is None


def test_it_rejects_a_prompt_longer_than_the_default_context(api):
    # Without context_tokens the KV cache holds 4,096 tokens: a 9,000-token prompt would overflow it.
    response = api.post(URL, {**LLAMA_ON_4090, "prompt_tokens": 9000}, format="json")
    assert response.status_code == 400
    assert response.json() == {"prompt_tokens": [
        "The prompt (9000 tokens) cannot be longer than the context (4096 tokens, the default: give context_tokens)."]}
    given = api.post(URL, {**LLAMA_ON_4090, "prompt_tokens": 9000, "context_tokens": 10_000}, format="json")
    assert (given.status_code, given.json()["workload"]["prompt_tokens"]) == (200, 9000)


def test_it_rejects_tokens_per_forward_beyond_the_models_own_block(api):
    diffusion_gemma = {"model": "diffusiongemma-26b-a4b-it", "quantization": "bf16-safetensors",
                       "device": "nvidia-h200-sxm"}
    response = api.post(URL, {**diffusion_gemma, "tokens_per_forward": 300}, format="json")
    assert response.status_code == 400
    assert response.json() == {"tokens_per_forward": [
        "Tokens per forward (300) cannot exceed the block size (DiffusionGemma 26B-A4B-it's is 256; give block_size "
        "for another)."]}
    # A smaller block given alone caps the model's own tokens per forward (15) at one step per block.
    small_block = api.post(URL, {**diffusion_gemma, "block_size": 4}, format="json")
    assert small_block.status_code == 200
    assert (small_block.json()["workload"]["block_size"], small_block.json()["workload"]["steps_per_block"]) == (4, 1)


def test_the_get_form_names_missing_parameters(api):
    response = api.get(URL, {"model": "llama-3-1-8b"})
    assert response.status_code == 400
    assert response.json() == {"quantization": ["This field is required."], "device": ["This field is required."]}


def test_it_takes_json_only(api):
    response = api.post(URL, LLAMA_ON_4090)  # a form
    assert response.status_code == 415


def test_it_answers_413_as_json_when_the_body_is_too_large(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post(URL, {"scenarios": [LLAMA_ON_4090] * 50}, format="json")
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


# --- Batches -------------------------------------------------------------------------------------

def test_it_answers_a_batch_in_order(api):
    scenarios = [LLAMA_ON_4090, {**LLAMA_ON_4090, "device": "nvidia-h100-sxm"},
                 {"model": "sdar-8b-chat", "quantization": "bf16", "device": "nvidia-h100-sxm"}]
    response = api.post(URL, {"scenarios": scenarios}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [(r["model"]["slug"], r["device"]["slug"], r["mode"]) for r in body["results"]] == [
        ("llama-3-1-8b", "nvidia-geforce-rtx-4090", "decode"), ("llama-3-1-8b", "nvidia-h100-sxm", "decode"),
        ("sdar-8b-chat", "nvidia-h100-sxm", "diffusion")]
    assert body["results"][0] == api.post(URL, LLAMA_ON_4090, format="json").json()


def test_a_batch_names_its_bad_scenarios_by_index(api):
    scenarios = [LLAMA_ON_4090, {**LLAMA_ON_4090, "model": "no-such-model"}, {**LLAMA_ON_4090, "batch": -1}]
    response = api.post(URL, {"scenarios": scenarios}, format="json")
    assert response.status_code == 400
    assert response.json() == {"scenarios": {"2": {"batch": ["Ensure this value is greater than or equal to 1."]}}}
    response = api.post(URL, {"scenarios": scenarios[:2]}, format="json")
    assert response.json() == {"scenarios": {"1": {"model": [
        "Unknown model 'no-such-model': give a catalog slug or name, or an inline object."]}}}


@pytest.mark.parametrize("size, message", [
    (0, "Ensure this field has at least 1 elements."), (1001, "Ensure this field has no more than 1000 elements."),
])
def test_a_batch_holds_one_to_a_thousand_scenarios(api, size, message):
    response = api.post(URL, {"scenarios": [LLAMA_ON_4090] * size}, format="json")
    assert response.status_code == 400
    assert response.json() == {"scenarios": [message]}


def test_a_batch_of_1000_is_answered_in_full(api):
    # How fast: `python -m bench.estimate_batch` (a wall-clock bound does not belong in the suite).
    response = api.post(URL, {"scenarios": batch_of_1000()}, format="json")
    assert response.status_code == 200
    assert response.json()["count"] == 1000


def test_a_batch_calls_the_core_once(api):
    with mock.patch.object(pipeline, "estimate_columns", wraps=pipeline.estimate_columns) as core:
        assert api.post(URL, {"scenarios": batch_of_1000()[:200]}, format="json").status_code == 200
    assert core.call_count == 1
    assert len(core.call_args.args[0]) == 200


def test_a_batch_costs_the_same_queries_as_one_scenario(api, django_assert_num_queries):
    # The catalog's version; the first time, one query per catalog table (models, quantizations,
    # devices, runtimes, offers, prices) and the calibrations (newest accepted fits), kept in
    # memory after; and for scenarios not estimated before, the accuracy ledger's measured runs.
    scenarios = batch_of_1000()[:300]
    catalog_cache.forget()  # as a new process starts
    with django_assert_num_queries(1 + 7 + 1):
        api.post(URL, LLAMA_ON_4090, format="json")
    with django_assert_num_queries(1):
        api.post(URL, LLAMA_ON_4090, format="json")
    with django_assert_num_queries(1 + 1):
        assert api.post(URL, {"scenarios": scenarios}, format="json").status_code == 200


def test_it_says_which_documented_rules_filled_missing_fields(api):
    model = {"name": "No head_dim", "total_params_b": 8, "n_layers": 32, "hidden_size": 4096, "n_heads": 32,
             "n_kv_heads": 8, "vocab_size": 128256}
    body = api.post(URL, {**LLAMA_ON_4090, "model": model}, format="json").json()
    assert "head_dim" in body["working"]["derived"]  # head_dim = hidden_size / n_heads


def test_every_result_field_is_documented_and_every_documented_field_is_there(api):
    from estimator.api.result_serializers import EstimateResultSerializer

    def shape(serializer) -> dict:
        return {name: shape(field) if hasattr(field, "fields") else None for name, field in serializer.fields.items()}

    def keys(record: dict) -> dict:
        return {name: keys(value) if isinstance(value, dict) else None for name, value in record.items()}

    body = api.post(URL, LLAMA_ON_4090, format="json").json()
    assert keys(body) == shape(EstimateResultSerializer())


def test_the_get_form_allows_offload_unless_told_otherwise(api):
    seventy_b = {"model": "llama-3-1-70b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090"}
    assert api.get(URL, seventy_b).json()["verdict"] == "offload"
    assert api.get(URL, {**seventy_b, "offload": "false"}).json()["verdict"] == "multi_device"


# --- Verdicts for the device count asked, coverage, memory options, price sources ---------------

GPT_OSS_ON_4090 = {"model": "gpt-oss-120b", "quantization": "mxfp4-gguf", "device": "nvidia-geforce-rtx-4090"}


def test_one_card_without_offload_is_no_fit_never_two_cards(api):
    seventy_b = {"model": "llama-3-1-70b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090"}
    body = api.get(URL, {**seventy_b, "device_count": 1, "offload": "false"}).json()
    assert (body["verdict"], body["grade"], body["tokens_per_s"]) == ("no_fit", "F", None)
    assert body["workload"]["device_count"] == 1 and body["workload"]["devices_asked"] == 1
    assert body["devices_needed"] == 2           # what would hold it, said, not answered for
    assert "cannot be offloaded" in body["verdict_reason"]


def test_a_model_too_big_for_one_card_offloads_by_default_on_every_card(api):
    for device in ("nvidia-geforce-rtx-4090", "nvidia-geforce-rtx-5090"):
        body = api.post(URL, {**GPT_OSS_ON_4090, "device": device}, format="json").json()
        assert (body["verdict"], body["workload"]["device_count"], body["grade"]) == ("offload", 1, "C"), device
        assert body["configuration_note"] == ""


def test_a_multi_device_answer_says_it_is_for_more_cards_than_asked(api):
    body = api.post(URL, {**GPT_OSS_ON_4090, "offload": False}, format="json").json()
    assert body["verdict"] == "multi_device"
    n = body["workload"]["device_count"]
    assert n > 1 and body["workload"]["devices_asked"] == 1
    assert body["grade"].endswith(f"\u00d7{n}")      # never the bare grade of a one-card fit
    assert body["configuration_note"] == f"figures for {n} devices in tensor parallel; the scenario asked about 1"


def test_an_apple_gpu_core_variant_without_memory_or_flops_gets_a_decode_speed(api):
    # A GPU-core variant with neither a memory size nor a FLOP/s figure of its own or its chip's.
    device = Device.objects.filter(kind="apple", memory_gb__isnull=True).first()
    device.fp32_tflops = device.fp16_tflops = device.bf16_tflops = device.shader_fp16_tflops = None
    device.save()
    body = strict_json(api.post(URL, {**LLAMA_ON_4090, "device": device.slug}, format="json"))
    assert body["tokens_per_s"] > 0 and body["bound"] == "memory"
    assert body["verdict"] == "unknown" and "memory_gb" in body["verdict_reason"]
    assert body["error_band"] > 0


def test_memory_gb_of_a_configurable_device_changes_the_verdict(api):
    device = Device.objects.filter(kind="apple", memory_gb__isnull=True).first()
    bf16 = {"model": "llama-3-1-8b", "quantization": "bf16-safetensors", "device": device.slug}
    # 16 GB of BF16 weights: a 16 GB chip lends the GPU 12 GB (no fit); a 128 GB one 96 GB (fits).
    small = api.post(URL, {**bf16, "memory_gb": 16}, format="json").json()
    large = api.post(URL, {**bf16, "memory_gb": 128}, format="json").json()
    assert small["verdict"] == "no_fit" and large["verdict"] == "fits"
    assert large["memory"]["usable_bytes"] == 128 * 2**30 * device.usable_memory_fraction


def test_memory_gb_must_be_positive(api):
    response = api.post(URL, {**LLAMA_ON_4090, "memory_gb": -8}, format="json")
    assert response.status_code == 400 and "memory_gb" in response.json()


def test_every_cost_names_its_provider_tier_and_date(api):
    from devices.models import CloudOffer

    body = api.post(URL, {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": "nvidia-h100-sxm"},
                    format="json").json()
    cost = body["cost"]
    # The cheapest offer, read straight from the table: prices are per GPU-hour, never divided again.
    cheapest = CloudOffer.objects.filter(device__slug="nvidia-h100-sxm").order_by("usd_per_hour", "gpu_count").first()
    assert cost["rental_usd_per_hour"] == pytest.approx(cheapest.usd_per_hour)
    assert (cost["rental_provider"], cost["rental_tier"], cost["rental_as_of"]) == (
        cheapest.provider, cheapest.tier, cheapest.as_of)
    assert cost["api_provider"] and cost["api_as_of"]


def test_diffusion_gemma_says_where_its_tokens_per_forward_comes_from_and_how_speed_moves_with_it(api):
    body = api.post(URL, {"model": "diffusiongemma-26b-a4b-it", "quantization": "bf16-safetensors",
                          "device": "nvidia-h200-sxm"}, format="json").json()
    working = body["working"]
    assert working["tokens_per_forward"] == 15
    assert "Unsloth" in working["tokens_per_forward_source"]
    table = working["tokens_per_forward_sensitivity"]
    assert [row["tokens_per_forward"] for row in table] == [7.5, 11.25, 15, 22.5, 30]
    assert table[2]["tokens_per_s"] == pytest.approx(body["tokens_per_s"])
    speeds = [row["tokens_per_s"] for row in table]
    assert speeds == sorted(speeds) and speeds[0] < speeds[-1]     # more per forward, fewer forwards
