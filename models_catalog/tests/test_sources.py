"""The CSV readers: every row kept with its source, derived fields named, nothing invented."""

import csv
from pathlib import Path

import pandas as pd
from django.conf import settings

from models_catalog import sources

DATA = settings.HWFIT_SHARED_DATA


def test_it_reads_every_model_row_with_its_source():
    frame = sources.load_models(DATA)
    with open(Path(DATA) / "models.csv", newline="", encoding="utf-8") as handle:
        assert len(frame) == sum(1 for _ in csv.DictReader(handle))
    assert frame["source"].str.len().min() > 0
    assert frame["slug"].is_unique


def test_it_describes_diffusiongemma_as_the_readme_states():
    frame = sources.load_models(DATA).set_index("name")
    dg = frame.loc["DiffusionGemma 26B-A4B-it"]
    assert (dg.total_params_b, dg.active_params_b) == (25.2, 3.8)
    assert (dg.n_layers, dg.sliding_window, dg.n_global_layers) == (30, 1024, 5)
    assert (dg.n_experts, dg.n_experts_active, dg.moe_intermediate_size, dg.intermediate_size) == (128, 8, 704, 2112)
    assert (dg.vocab_size, dg.max_context, dg.block_size) == (262144, 262144, 256)
    assert (dg.global_kv_heads, dg.global_head_dim) == (2, 512)
    assert dg.vision_params_b == 0.55 and dg.self_conditioning
    assert dg.generation_mode == "block_diffusion" and dg.diffusion_attention == "block_causal"
    assert "n_global_layers" in dg.derived_fields
    sibling = frame.loc["Gemma 4 26B-A4B"]
    assert sibling.generation_mode == "autoregressive" and sibling.diffusion_attention == ""


def test_it_tells_full_attention_diffusion_from_block_causal():
    frame = sources.load_models(DATA).set_index("name")
    assert frame.loc["LLaDA 8B Instruct", "diffusion_attention"] == "full"
    assert frame.loc["Dream 7B Instruct (v0)", "diffusion_attention"] == "full"
    assert frame.loc["LLaDA2.0-mini", "diffusion_attention"] == "block_causal"
    assert frame.loc["SDAR-8B-Chat", "diffusion_attention"] == "block_causal"


def test_it_leaves_unknown_fields_empty_rather_than_zero():
    frame = sources.load_models(DATA).set_index("name")
    assert frame.loc["Qwen2.5 72B", ["hidden_size", "vocab_size"]].isna().all()
    assert frame.loc["Llama 3.1 8B", "n_experts"] is None or frame.loc["Llama 3.1 8B"].isna()["n_experts"]


def test_it_merges_techpowerup_rows_without_duplicating_parts():
    frame = sources.load_devices(DATA)
    assert frame["slug"].is_unique
    assert (frame["name"] == "NVIDIA GeForce RTX 3090").sum() == 1
    assert "Apple M1 Max (24-core GPU)" in set(frame["name"])  # a bin of its own: fewer GPU cores
    assert len(frame) >= 70


def test_it_fills_dense_tensor_peaks_but_never_sparse_ones():
    frame = sources.load_devices(DATA).set_index("name")
    assert frame.loc["NVIDIA GeForce RTX 3070", "fp16_tflops"] == 40.6  # FP32-accumulate dense
    assert frame.loc["NVIDIA GeForce RTX 4060 Ti 16GB", "fp8_tflops"] == 176.5  # derived = sparse / 2
    assert "fp8_tflops" in frame.loc["NVIDIA GeForce RTX 4060 Ti 16GB", "derived_fields"]


def test_it_reads_quantization_bits_and_published_deltas():
    frame = sources.load_quants(DATA).set_index("name")
    q4 = frame.loc["Q4_K_M"]
    assert (q4.bits_per_weight, q4.ppl_delta, q4.quality_tier, q4.compute_dtype) == (4.8944, 0.1754, "good", "fp16")
    assert frame.loc["IQ4_XS", "quality_tier"] == "unknown"  # no published delta: no guess
    assert frame.loc["FP8 E4M3 (W8A8)", "compute_dtype"] == "fp8"
    assert frame.loc["NVFP4", "family"] == "nvfp4"
    assert len(frame) >= 20


def test_it_links_offers_only_to_the_device_they_name():
    devices = sources.load_devices(DATA)
    offers = sources.load_cloud_offers(DATA, devices["name"])
    by_label = dict(zip(offers["device_label"], offers["device_name"]))
    assert by_label["H100 SXM 80GB"] == "NVIDIA H100 SXM"
    assert by_label["H100 PCIe 80GB"] == "NVIDIA H100 PCIe"
    assert pd.isna(by_label["L40S / L40 / RTX 6000 Ada 48GB"])  # names three parts: no single device


def test_it_slugifies_like_a_url_wants():
    assert sources.slugify("Ryzen AI Max+ 395 (Strix Halo)") == "ryzen-ai-max-plus-395-strix-halo"
    assert sources.slugify("Qwen2.5 7B") == "qwen2-5-7b"
