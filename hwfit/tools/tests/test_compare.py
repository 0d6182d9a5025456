"""Compare: devices (or models) side by side on one workload, validated like the API."""

import json

import pytest

pytestmark = pytest.mark.django_db


def test_it_compares_devices_for_one_model_with_the_apis_figures(client):
    ask = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": ["nvidia-geforce-rtx-4090", "nvidia-h100-sxm"],
           "context_tokens": 8192}
    response = client.get("/compare/", ask)
    assert response.status_code == 200
    page = response.context["page"]
    assert page.what == "devices"
    assert [r["device"]["slug"] for r in page.records] == ["nvidia-geforce-rtx-4090", "nvidia-h100-sxm"]
    api = client.get("/api/v1/estimate/", {**ask, "device": "nvidia-h100-sxm"}).json()
    assert page.records[1]["tokens_per_s"] == api["tokens_per_s"]
    body = response.content.decode()
    assert '<script id="compare-data" type="application/json">' in body
    assert "vendor/plotly.min.js" in body
    # Each column links to its calculator permalink with the same names.
    assert "/calculator/?model=llama-3-1-8b&amp;quantization=q4-k-m&amp;device=nvidia-h100-sxm&amp;context_tokens=8192" in body


def test_it_compares_models_on_one_device(client):
    response = client.get("/compare/", {"device": "nvidia-geforce-rtx-4090",
                                        "model": ["llama-3-1-8b", "gemma-3-27b", "qwen3-30b-a3b"]})
    page = response.context["page"]
    assert page.what == "models" and len(page.records) == 3
    assert page.chart["labels"] == [r["model"]["name"] for r in page.records]


def test_the_chart_data_is_the_records_figures(client):
    page = client.get("/compare/").context["page"]
    assert len(page.records) == 3
    assert page.chart["tokens_per_s"] == [r["tokens_per_s"] for r in page.records]
    data = json.loads(client.get("/compare/").content.decode().split('<script id="compare-data" type="application/json">')[1]
                      .split("</script>")[0])
    assert data["labels"] == ["NVIDIA GeForce RTX 4090", "NVIDIA H100 SXM", "Apple M2 Max"]


def test_it_refuses_several_models_on_several_devices(client):
    response = client.get("/compare/", {"model": ["llama-3-1-8b", "gemma-3-27b"],
                                        "device": ["nvidia-h100-sxm", "apple-m2-max"]})
    assert response.status_code == 400
    assert "Compare several devices for one model, or several models on one device — not both." in response.content.decode()


def test_it_refuses_more_than_four(client):
    devices = ["nvidia-geforce-rtx-4090", "nvidia-h100-sxm", "apple-m2-max", "nvidia-l4", "nvidia-t4"]
    response = client.get("/compare/", {"model": "llama-3-1-8b", "device": devices})
    assert response.status_code == 400
    assert response.context["page"].errors["devices"] == ["Compare at most 4 devices at a time."]


def test_it_names_the_unknown_device_next_to_the_devices(client):
    response = client.get("/compare/", {"model": "llama-3-1-8b", "device": ["nvidia-h100-sxm", "no-such-gpu"]})
    assert response.status_code == 400
    assert response.context["page"].errors["devices"] == [
        "no-such-gpu: Unknown device 'no-such-gpu': give a catalog slug or name, or an inline object."]


def test_it_gives_the_apis_reason_for_a_workload_the_model_cannot_run(client):
    response = client.get("/compare/", {"model": "llama-3-1-8b", "mode": "diffusion",
                                        "device": ["nvidia-h100-sxm", "apple-m2-max"]})
    assert response.status_code == 400
    assert response.context["page"].errors["mode"] == [
        "Llama 3.1 8B is autoregressive: the diffusion mode needs a block-diffusion model."]


def test_it_compares_diffusion_gemma_on_two_devices(client, django_assert_max_num_queries):
    # One more than the catalog's own load: its version (then it is kept in memory).
    with django_assert_max_num_queries(9):
        response = client.get("/compare/", {"model": "diffusiongemma-26b-a4b-it", "quantization": "bf16",
                                            "device": ["nvidia-h100-sxm", "nvidia-geforce-rtx-4090"]})
    assert response.status_code == 200
    assert [r["mode"] for r in response.context["page"].records] == ["diffusion", "diffusion"]


def test_it_sets_diffusion_gemma_beside_its_autoregressive_sibling(client):
    response = client.get("/compare/", {"what": "models", "device": "nvidia-h100-sxm", "quantization": "bf16",
                                        "model": ["diffusiongemma-26b-a4b-it", "gemma-4-26b-a4b"]})
    page = response.context["page"]
    # Each model in its own mode: denoising against decoding.
    assert page.chart["modes"] == ["diffusion", "decode"]
    assert all(r["tokens_per_s"] for r in page.records)
    assert "· diffusion</span>" in response.content.decode()
