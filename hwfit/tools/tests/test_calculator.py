"""The calculator and planner: the API's validation and figures, the working, prices and the plan."""

import pytest

from hwfit.tools.calculator import MemoryPart, batch_costs, memory_parts, per_device_bytes, plan_rows

pytestmark = pytest.mark.django_db

LLAMA_4090 = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090",
              "context_tokens": 8192}


def test_it_shows_the_same_figures_as_the_estimate_api(client):
    page = client.get("/calculator/", LLAMA_4090)
    api = client.get("/api/v1/estimate/", LLAMA_4090).json()
    assert page.status_code == 200
    record = page.context["page"].record
    assert record["tokens_per_s"] == api["tokens_per_s"]
    assert record["memory"] == api["memory"] and record["cost"] == api["cost"] and record["working"] == api["working"]
    body = page.content.decode()
    assert 'id="tokens-per-s"' in body and "Llama 3.1 8B · Q4_K_M on NVIDIA GeForce RTX 4090" in body
    # The page links to the same figures from the API.
    assert "/api/v1/estimate/?model=llama-3-1-8b&amp;quantization=q4-k-m&amp;device=nvidia-geforce-rtx-4090&amp;context_tokens=8192" in body


def test_it_shows_an_example_before_anything_is_asked(client):
    response = client.get("/calculator/")
    assert response.status_code == 200
    assert response.context["page"].record["device"]["slug"] == "nvidia-geforce-rtx-4090"


def test_it_names_the_term_that_binds_and_both_roofline_terms(client):
    body = client.get("/calculator/", LLAMA_4090).content.decode()
    # One decode pass of an 8B model at Q4_K_M on a 4090 reads ~5 GB at ~1 TB/s: memory binds.
    assert '<tr class="binds"><th scope="row">Memory <span class="tag">binds</span>' in body
    assert 'id="compute-s"' in body and 'id="memory-s"' in body and 'id="pass-s"' in body


def test_it_puts_a_bad_value_next_to_its_field_with_the_apis_reason(client):
    response = client.get("/calculator/", {**LLAMA_4090, "context_tokens": "0", "batch": "many"})
    assert response.status_code == 400
    body = response.content.decode()
    assert '<p class="field-error" id="e-context_tokens" role="alert">Ensure this value is greater than or equal to 1.</p>' in body
    assert '<p class="field-error" id="e-batch" role="alert">A valid integer is required.</p>' in body
    assert response.context["page"].record is None


def test_it_refuses_a_context_beyond_the_models_window_like_the_api(client):
    ask = {**LLAMA_4090, "context_tokens": 1_000_000}
    api = client.get("/api/v1/estimate/", ask).json()
    page = client.get("/calculator/", ask)
    assert page.status_code == 400
    assert page.context["page"].errors["context_tokens"] == api["context_tokens"]


def test_it_names_an_unknown_model(client):
    response = client.get("/calculator/", {**LLAMA_4090, "model": "no-such-model"})
    assert response.status_code == 400
    assert response.context["page"].errors["model"] == [
        "Unknown model 'no-such-model': give a catalog slug or name, or an inline object."]


def test_it_estimates_a_device_typed_in(client):
    response = client.get("/calculator/", {
        **LLAMA_4090, "device": "custom", "device_name": "My 48 GB card", "kind": "gpu", "memory_gb": "48",
        "memory_bandwidth_gbs": "960", "fp16_tflops": "150", "tdp_w": "300"})
    assert response.status_code == 200
    record = response.context["page"].record
    assert record["device"] == {"slug": None, "name": "My 48 GB card", "inline": True}
    assert record["verdict"] == "fits"
    # 960 GB/s as typed: the working's bandwidth is the device's own.
    assert record["working"]["bandwidth_bytes_per_s"] == 960e9
    assert response.context["api_query"] == ""  # the API's GET form names catalog records only


def test_a_device_typed_in_is_validated_like_an_admin_edit(client):
    response = client.get("/calculator/", {**LLAMA_4090, "device": "custom", "kind": "gpu", "memory_gb": "-3"})
    assert response.status_code == 400
    assert response.context["page"].errors["memory_gb"] == [
        "Memory (GB) must be greater than 0 (leave it empty if unknown)."]
    assert 'id="e-memory_gb"' in response.content.decode()


def test_a_model_typed_in_is_validated_like_an_admin_edit(client):
    response = client.get("/calculator/", {**LLAMA_4090, "model": "custom", "total_params_b": "8",
                                           "active_params_b": "9"})
    assert response.status_code == 400
    assert response.context["page"].errors["active_params_b"] == [
        "Active parameters (9B) cannot exceed total parameters (8B)."]


def test_it_lists_the_prices_it_used_with_provider_tier_and_date(client):
    from estimator import services
    from estimator.core.cost import cheapest_rental

    page = client.get("/calculator/", {"model": "llama-3-1-8b", "quantization": "q4-k-m",
                                       "device": "nvidia-h100-sxm"}).context["page"]
    used = [offer for offer in page.offers if offer.used]
    assert len(used) == 1 and used[0].as_of and used[0].provider
    # The row marked is the offer the estimator's cost module picked for the H100.
    offers = services.catalog_load().offers
    picked = cheapest_rental(offers[offers["device_slug"] == "nvidia-h100-sxm"]).iloc[0]
    assert (used[0].provider, used[0].as_of) == (picked["rental_provider"], picked["rental_as_of"])
    assert len(page.offers) > 1
    api = [price for price in page.api_prices if price.used]
    assert len(api) == 1 and api[0].usd == page.record["cost"]["api_usd_per_mtok"]


def test_the_planner_asks_the_estimator_once_for_every_device_count(client, django_assert_max_num_queries):
    # The catalog's seven tables, then the offers and API prices shown: no query per configuration.
    with django_assert_max_num_queries(12):
        response = client.get("/calculator/", {"model": "llama-3-1-70b", "quantization": "q4-k-m",
                                               "device": "nvidia-geforce-rtx-4090", "context_tokens": 8192,
                                               "batch": 4, "max_devices": 8})
    plan = response.context["page"].plan
    assert [row.device_count for row in plan.rows] == [1, 2, 3, 4, 5, 6, 7, 8]
    # 70B at Q4_K_M is ~43 GB of weights (70.6e9 x 4.89 bits / 8) + 10.7 GB of KV cache: no fit on one or two 24 GB cards.
    assert not plan.rows[0].fits and not plan.rows[1].fits
    assert plan.chosen is not None and plan.chosen.device_count == 3


def test_the_planner_reaches_for_more_devices_for_a_higher_target(client):
    ask = {"model": "llama-3-1-70b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090",
           "context_tokens": 8192, "batch": 4}
    low = client.get("/calculator/", ask).context["page"].plan.chosen
    high = client.get("/calculator/", {**ask, "target_tokens_per_s": low.per_request_tokens_per_s * 1.2}).context["page"].plan
    assert high.chosen.device_count > low.device_count
    assert high.chosen.per_request_tokens_per_s >= high.target_tokens_per_s


def test_the_planner_says_when_nothing_reaches_the_target(client):
    response = client.get("/calculator/", {**LLAMA_4090, "target_tokens_per_s": 1e6})
    assert response.context["page"].plan.chosen is None
    assert "No configuration up to 8 devices reaches 1,000,000 tok/s per request." in response.content.decode()


def test_the_planner_refuses_a_device_count_beyond_the_apis(client):
    response = client.get("/calculator/", {**LLAMA_4090, "max_devices": "65"})
    assert response.status_code == 400
    assert response.context["page"].errors["max_devices"] == ["Give a whole number of devices from 1 to 64."]


def record(*, count: int, fits: bool, tokens: float, batch: int = 2, power: float = 450.0, rent: float = 0.5):
    return {"fits": fits, "tokens_per_s": tokens, "verdict": "fits" if fits else "multi_device",
            "workload": {"batch": batch, "device_count": count, "parallel": "tensor"},
            "memory": {"weights_embedding_bytes": 2e9, "weights_dense_bytes": 34e9, "weights_experts_bytes": 0.0,
                       "vision_bytes": 0.0, "kv_cache_bytes": 6e9, "activations_bytes": 0.5e9, "logits_bytes": 0.0,
                       "overhead_bytes": 0.5e9},
            "cost": {"power_w": power, "usd_per_kwh": 0.12, "rental_usd_per_hour": rent}}


def test_batch_costs_are_per_million_tokens_at_the_batchs_speed():
    energy, rental = batch_costs(record(count=1, fits=True, tokens=100.0))
    # 1e6 tokens at 100 tok/s = 10,000 s = 2.7778 h; 0.45 kW x 2.7778 h x $0.12 = $0.15; $0.5/h x 2.7778 h = $1.3889.
    assert energy == pytest.approx(0.15)
    assert rental == pytest.approx(1.388889, rel=1e-6)


def test_plan_rows_choose_the_fewest_devices_that_fit_and_reach_the_target():
    plans = [(1, "none", {}), (2, "tensor", {}), (2, "layers", {}), (3, "tensor", {}), (3, "layers", {})]
    records = [record(count=2, fits=False, tokens=30.0), record(count=2, fits=True, tokens=40.0),
               record(count=2, fits=True, tokens=30.0), record(count=3, fits=True, tokens=60.0),
               record(count=3, fits=True, tokens=50.0)]
    plan = plan_rows(plans, records, target=25.0)
    # Per request at batch 2: 2 devices give 40 / 2 = 20 tok/s (< 25), 3 devices 60 / 2 = 30 tok/s.
    assert [(row.device_count, row.per_request_tokens_per_s) for row in plan.rows] == [(1, 15.0), (2, 20.0), (3, 30.0)]
    assert plan.chosen.device_count == 3 and plan.chosen.parallel == "tensor"
    # (36 GB of weights + 6 GB of cache) / 3 + 0.5 GB of activations + 0.5 GB of overhead = 15 GB each.
    assert plan.chosen.memory_per_device_bytes == pytest.approx(15e9)
    assert plan_rows(plans, records, target=None).chosen.device_count == 2


MEMORY = {"weights_bytes": 30.0, "weights_embedding_bytes": 2.0, "weights_dense_bytes": 28.0,
          "weights_experts_bytes": 0.0, "vision_bytes": 0.0, "kv_cache_bytes": 10.0, "activations_bytes": 1.0,
          "logits_bytes": 0.0, "overhead_bytes": 3.0, "total_bytes": 44.0, "usable_bytes": 40.0}


def test_memory_parts_place_each_part_on_one_devices_bar():
    parts, usable_at = memory_parts(MEMORY, device_count=2)
    # Two devices: 15 of weights and 5 of cache each, 1 + 3 of activations and overhead on each:
    # 24 against 40 usable; the bar is 40 wide: weights 37.5%, cache 12.5% from 37.5%.
    assert parts[0] == MemoryPart(key="weights", label="Weights", bytes=15.0, x_percent=0.0, width_percent=37.5)
    assert parts[2].x_percent == 37.5 and parts[2].width_percent == 12.5
    assert parts[3].bytes == 1.0 and parts[5].bytes == 3.0
    assert usable_at == 100.0


def test_the_bar_adds_up_to_the_cores_per_device_need():
    for count in (1, 2, 3, 8):
        parts, _ = memory_parts(MEMORY, device_count=count)
        assert sum(part.bytes or 0 for part in parts) == pytest.approx(per_device_bytes(MEMORY, count))
    # One device holds it all: 44; three hold (30 + 10) / 3 + 1 + 3 = 17.33 each.
    assert per_device_bytes(MEMORY, 1) == 44.0
    assert per_device_bytes(MEMORY, 3) == pytest.approx(17.3333333)
