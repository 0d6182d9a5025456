"""The model page 'where it runs': every device, costs side by side, how to run it, and diffusion
against its autoregressive sibling — each figure the estimate API's."""

import re

import pytest

from devices.models import CloudOffer, Device

pytestmark = pytest.mark.django_db

DGEMMA = "/models/diffusiongemma-26b-a4b-it/"
RTX_4090 = "nvidia-geforce-rtx-4090"


def estimate(client, **query) -> dict:
    response = client.get("/api/v1/estimate/", query)
    assert response.status_code == 200, response.content
    return response.json()


def test_it_lists_every_device_once_grouped_by_verdict(client):
    response = client.get(DGEMMA)
    assert response.status_code == 200
    page = response.context["page"]
    slugs = [row.record["device"]["slug"] for group in page.groups for row in group.rows]
    assert sorted(slugs) == sorted(Device.objects.values_list("slug", flat=True))
    assert len(slugs) == 161
    body = response.content.decode()
    for title in ("Runs on one device", "Needs more devices", "Does not fit", "Unknown"):
        assert title in body


def test_it_defaults_to_the_checkpoint_a_diffusion_model_runs_from_and_names_the_runtime(client):
    response = client.get(DGEMMA)
    assert response.context["page"].quantization["slug"] == "bf16-safetensors"
    assert "Estimates assume <strong>HF transformers</strong> (the default for the format and device kind)" in \
        response.content.decode()


def test_its_rows_are_the_estimate_apis_answers(client):
    page = client.get(DGEMMA, {"context_tokens": 8192}).context["page"]
    row = next(row for row in page.rows if row.record["device"]["slug"] == "nvidia-h100-sxm")
    api = estimate(client, model="diffusiongemma-26b-a4b-it", quantization="bf16-safetensors", device="nvidia-h100-sxm",
                   context_tokens=8192)
    assert {k: row.record[k] for k in ("verdict", "grade", "tokens_per_s", "mode", "runtime")} == \
        {k: api[k] for k in ("verdict", "grade", "tokens_per_s", "mode", "runtime")}
    assert row.record["memory"] == api["memory"] and row.record["speed"] == api["speed"]


def test_the_diffusion_panel_sets_it_beside_gemma_4_with_the_apis_figures(client):
    response = client.get(DGEMMA)
    panel = response.context["page"].diffusion
    assert panel.sibling["slug"] == "gemma-4-26b-a4b"
    row = next(row for row in panel.rows if row.device["slug"] == RTX_4090)
    diffusion = estimate(client, model="diffusiongemma-26b-a4b-it", quantization="bf16-safetensors", device=RTX_4090,
                         mode="diffusion")
    autoregressive = estimate(client, model="gemma-4-26b-a4b", quantization="bf16-safetensors", device=RTX_4090,
                              mode="decode")
    assert row.diffusion["speed"]["diffusion_tokens_per_s"] == diffusion["speed"]["diffusion_tokens_per_s"]
    assert row.diffusion["speed"]["diffusion_end_to_end_tokens_per_s"] == \
        diffusion["speed"]["diffusion_end_to_end_tokens_per_s"]
    assert row.autoregressive["speed"]["decode_tokens_per_s"] == autoregressive["speed"]["decode_tokens_per_s"]
    assert row.diffusion["memory"]["total_bytes"] == diffusion["memory"]["total_bytes"]
    assert row.autoregressive["memory"]["total_bytes"] == autoregressive["memory"]["total_bytes"]
    assert (row.diffusion["runtime"], row.autoregressive["runtime"]) == (diffusion["runtime"], autoregressive["runtime"])
    assert row.speedup == pytest.approx(diffusion["speed"]["diffusion_tokens_per_s"]
                                        / autoregressive["speed"]["decode_tokens_per_s"])
    body = response.content.decode()
    assert f'<a href="/devices/{RTX_4090}/">NVIDIA GeForce RTX 4090</a>' in body


def test_the_diffusion_sweeps_are_the_apis_answers_point_by_point(client):
    page = client.get(DGEMMA, {"device": RTX_4090}).context["page"]
    sweep = dict((x, result) for x, result, _ in page.diffusion.per_forward)
    # 1, 2, 4, ... 256 (the model's block) and its own 15 tokens per forward.
    assert sorted(sweep) == [1, 2, 4, 8, 15, 16, 32, 64, 128, 256]
    api = estimate(client, model="diffusiongemma-26b-a4b-it", quantization="bf16-safetensors", device=RTX_4090,
                   mode="diffusion", tokens_per_forward=64)
    assert sweep[64.0]["speed"]["diffusion_tokens_per_s"] == api["speed"]["diffusion_tokens_per_s"]
    batches = {x: (d, a) for x, d, a in page.diffusion.batches}
    assert sorted(batches) == [1, 2, 4, 8, 16, 32, 64]
    api = estimate(client, model="gemma-4-26b-a4b", quantization="bf16-safetensors", device=RTX_4090, mode="decode",
                   batch=16)
    assert batches[16][1]["speed"]["decode_tokens_per_s"] == api["speed"]["decode_tokens_per_s"]
    body = client.get(DGEMMA, {"device": RTX_4090}).content.decode()
    first_win = next(x for x, d, a in page.diffusion.per_forward
                     if d["speed"]["diffusion_tokens_per_s"] > a["speed"]["decode_tokens_per_s"])
    assert f"diffusion is faster than autoregressive decode from <strong>{first_win:g} tokens per forward</strong>" in body
    for chart in ("chart-per-forward", "chart-batch", "chart-speed", "chart-context", "chart-memory"):
        assert f'data-figure="{chart}-data"' in body


def test_the_energy_cost_follows_the_price_per_kwh_the_user_sets(client):
    page = client.get(DGEMMA, {"usd_per_kwh": "0.30"}).context["page"]
    first = page.energy[0]
    cost, tokens_per_s = first["cost"], first["speed"]["generation_tokens_per_s_batch1"]
    # $/1M = W / 1000 x hours for 1M tokens x $/kWh
    assert cost["energy_usd_per_mtok"] == pytest.approx(cost["power_w"] / 1000 * (1e6 / tokens_per_s / 3600) * 0.30)
    body = client.get(DGEMMA, {"usd_per_kwh": "0.30"}).content.decode()
    assert "Electricity at $0.30/kWh" in body


def test_cloud_costs_name_the_offer_behind_each_figure(client):
    page = client.get(DGEMMA).context["page"]
    assert page.cloud
    prices = [c.record["cost"]["rental_usd_per_mtok"] for c in page.cloud]
    assert prices == sorted(prices)
    for cost in page.cloud:
        device = cost.record["device"]["slug"]
        # Prices are per GPU-hour (docs/data.md); of equal prices, the offer renting fewer GPUs.
        offers = CloudOffer.objects.filter(device__slug=device)
        cheapest = min(offers, key=lambda o: (o.usd_per_hour, o.gpu_count))
        assert (cost.provider, cost.tier, cost.as_of) == (cheapest.provider, cheapest.tier, cheapest.as_of)
        assert cost.record["verdict"] in ("fits", "multi_device")
    body = client.get(DGEMMA).content.decode()
    h200 = next(c for c in page.cloud if c.record["device"]["slug"] == "nvidia-h200-sxm")
    assert f"{h200.provider}, {h200.tier}, ${h200.record['cost']['rental_usd_per_hour']:.2f}/h, as of {h200.as_of}" in body


def test_api_prices_are_blended_70_30_with_provider_and_date(client):
    body = client.get("/models/llama-3-3-70b-instruct/").content.decode()
    panel = body[body.index("<h3>Hosted APIs"):body.index('<section id="payback">')]
    # Groq: 0.7 x 0.59 + 0.3 x 0.79 = 0.65; Together AI 0.88 flat; Fireworks AI 0.90 flat.
    groq = panel.index("Groq")
    assert "$0.65" in panel[groq:groq + 400] and "list price as of 2025-01" in panel[groq:groq + 400]
    assert panel.index("Groq") < panel.index("Together AI") < panel.index("Fireworks AI")


def test_the_payback_panel_counts_months_at_the_daily_volume_given(client):
    page = client.get("/models/llama-3-3-70b-instruct/",
                      {"quantization": "q4-k-m", "device": RTX_4090, "daily_tokens": "5000000", "offload": "false"}).context["page"]
    p, cost = page.payback, page.reference["cost"]
    assert p.daily_tokens == 5_000_000
    # 5M tokens a day = 5 x the $/1M figure; months = price / ((api - energy) a day x 30.44)
    api_day, energy_day = 5 * cost["api_usd_per_mtok"], 5 * cost["energy_usd_per_mtok"]
    # A 70B model at Q4_K_M (~40 GB) without offload needs two 24 GB cards: 2 x $1,599.
    assert page.reference["workload"]["device_count"] == 2 and p.launch_price_usd == 3198
    assert p.api_per_day == pytest.approx(api_day) and p.energy_per_day == pytest.approx(energy_day)
    # Two cards' electricity costs more than the cheapest API (Groq's $0.65/1M): never pays back ...
    assert api_day < energy_day and p.months_vs_api is None
    # ... but renting the same two cards costs more than their electricity: buying pays back.
    rental_day = 5 * cost["rental_usd_per_mtok"]
    assert p.rental_per_day == pytest.approx(rental_day) and rental_day > energy_day
    assert p.months_vs_rental == pytest.approx(3198 / ((rental_day - energy_day) * 365.25 / 12))
    body = client.get("/models/llama-3-3-70b-instruct/",
                      {"quantization": "q4-k-m", "device": RTX_4090, "daily_tokens": "5000000", "offload": "false"}).content.decode()
    assert "Buy, rent or call an API? (5,000,000 tokens a day)" in body and "Buy 2× NVIDIA GeForce RTX 4090" in body
    assert "buying never pays back at this volume" in body


def test_how_to_run_it_is_built_from_the_catalog_fields(client):
    body = client.get("/models/llama-3-1-8b/", {"quantization": "q4-k-m", "context_tokens": 8192,
                                                "device": RTX_4090}).content.decode()
    assert "huggingface-cli download meta-llama/Llama-3.1-8B --local-dir Llama-3.1-8B" in body
    assert "llama-quantize Llama-3.1-8B-BF16.gguf Llama-3.1-8B-Q4_K_M.gguf Q4_K_M" in body
    assert "llama-server -m Llama-3.1-8B-Q4_K_M.gguf -c 8192 -ngl 99" in body
    assert "ollama create llama-3-1-8b-q4_k_m -f Modelfile" in body
    body = client.get("/models/llama-3-1-8b/", {"quantization": "fp8-e4m3-w8a8", "device": "nvidia-h100-sxm"}).content.decode()
    assert "vllm serve meta-llama/Llama-3.1-8B --max-model-len 4096 --quantization fp8" in body
    assert "python -m sglang.launch_server --model-path meta-llama/Llama-3.1-8B --context-length 4096" in body
    body = client.get(DGEMMA).content.decode()
    assert ("model = AutoModel.from_pretrained(&quot;google/diffusiongemma-26B-A4B-it&quot;, torch_dtype=torch.bfloat16, "
            "device_map=&quot;auto&quot;, trust_remote_code=True)") in body


def test_the_hugging_face_repo_is_a_link_and_sources_cite_public_sources_only(client):
    body = client.get("/models/llada-8b-instruct/").content.decode()
    assert '<a href="https://huggingface.co/GSAI-ML/LLaDA-8B-Instruct" rel="noopener">GSAI-ML/LLaDA-8B-Instruct</a>' in body
    assert "DIFFUSION.md" not in body and "shared/" not in body
    assert "github ML-GSAI/LLaDA README" in body


@pytest.mark.parametrize("url, query, field, reason", [
    ("/models/llama-3-1-8b/", {"context_tokens": 200000}, "context_tokens", "reads at most 131,072 tokens"),
    ("/models/llama-3-1-8b/", {"mode": "diffusion"}, "mode", "is autoregressive"),
    (DGEMMA, {"device": "no-such-gpu"}, "device", "Unknown device"),
    (DGEMMA, {"daily_tokens": "lots"}, "daily_tokens", "Give a whole number of tokens a day"),
])
def test_a_workload_the_model_cannot_run_is_a_400_next_to_the_field(client, url, query, field, reason):
    response = client.get(url, query)
    assert response.status_code == 400
    error = re.search(rf'<p class="error" id="err_{field}" role="alert">([^<]*)</p>', response.content.decode())
    assert error and reason in error.group(1)


def test_the_filters_keep_only_the_devices_asked_for(client):
    page = client.get(DGEMMA, {"vendor": "NVIDIA", "kind": "gpu", "fits_only": "on"}).context["page"]
    assert page.rows
    vendors = dict(Device.objects.values_list("slug", "vendor"))
    assert {vendors[row.record["device"]["slug"]] for row in page.rows} == {"NVIDIA"}
    assert {row.record["verdict"] for row in page.rows} == {"fits"}


def test_its_queries_do_not_grow_with_the_catalog(client, django_assert_max_num_queries):
    # The model, the form's choices, the devices, ONE catalog load for both estimate batches,
    # the offers and API prices of the costs, the architectures (sibling): 14 today.
    with django_assert_max_num_queries(16):
        client.get(DGEMMA)
    with django_assert_max_num_queries(16):
        client.get("/models/llama-3-1-70b/", {"quantization": "q8-0", "context_tokens": 16384})
