"""The CSV readers: every row kept with its source, derived fields named, nothing invented."""

from pathlib import Path

import pandas as pd
from django.conf import settings

from models_catalog import sources

DATA = Path(settings.HWFIT_SHARED_DATA)


def test_it_reads_every_model_row_with_its_source():
    frame = sources.load_models(DATA)
    assert len(frame) == len(pd.read_csv(DATA / "models.csv"))
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
    assert frame.loc["LLaDA2.0-flash", ["n_kv_heads", "head_dim"]].isna().all()
    assert frame.loc["LLaDA2.0-flash", "tied_embeddings"] is None
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


def test_it_gives_the_3090_its_fp32_accumulate_tensor_peak_not_its_fp32_rate():
    frame = sources.load_devices(DATA).set_index("name")
    rtx3090 = frame.loc["NVIDIA GeForce RTX 3090"]
    # GA102 whitepaper: 71 dense FP16 tensor TFLOPS with FP32 accumulate (142 with FP16 accumulate);
    # the old fallback was the 35.6 TFLOPS FP32 rate.
    assert (rtx3090.fp16_tflops, rtx3090.bf16_tflops, rtx3090.fp16_peak_basis) == (71.0, 71.0, "stated")


def test_a_derived_peak_is_units_times_clock_times_the_rate_per_unit_and_says_so():
    frame = sources.load_devices(DATA).set_index("name")
    rtx3060ti = frame.loc["NVIDIA GeForce RTX 3060 Ti"]
    # 38 SM x 1665 MHz x 512 FLOP/clock = 32.39e12 -> 32.4 TFLOPS
    assert rtx3060ti.fp16_tflops == 32.4
    assert rtx3060ti.fp16_peak_basis == "derived" and "fp16_tflops" in rtx3060ti.derived_fields


def test_every_gpu_in_the_peaks_file_gets_its_peak_and_only_gpus_without_a_row_have_none():
    peaks = pd.read_csv(DATA / "device_tensor_peaks.csv")
    frame = sources.load_devices(DATA).set_index("name")
    assert peaks["name"].is_unique
    listed = frame.loc[peaks["name"]]
    assert (listed["fp16_tflops"].to_numpy() == peaks["fp16_tflops_dense"].to_numpy()).all()
    assert (listed["fp16_peak_basis"].to_numpy() == peaks["basis"].to_numpy()).all()
    gpus = frame[frame["vendor"].isin(["NVIDIA", "AMD", "Intel"]) & (frame["kind"] == "gpu")]
    assert (gpus["fp16_peak_basis"] == "").sum() == len(set(gpus.index) - set(peaks["name"]))


def test_an_apple_variant_inherits_its_chips_memory_and_scales_its_flops_by_cores():
    frame = sources.load_devices(DATA).set_index("name")
    chip, variant = frame.loc["Apple M1 Max"], frame.loc["Apple M1 Max (24-core GPU)"]
    assert chip.memory_options_gb == [32.0, 64.0] and chip.gpu_cores == 32
    assert variant.chip_name == "Apple M1 Max" and variant.gpu_cores == 24
    assert variant.memory_options_gb == [32.0, 64.0] and variant.memory_gb == 64.0
    assert variant.fp32_tflops == 7.8  # 10.4 x 24 / 32
    assert {"memory_options_gb", "memory_gb", "fp32_tflops"} <= set(variant.derived_fields)


def test_an_apple_bin_that_apple_states_separately_keeps_its_own_bandwidth_and_options():
    frame = sources.load_devices(DATA).set_index("name")
    low = frame.loc["Apple M3 Max (30-core GPU)"]
    assert (low.memory_bandwidth_gbs, low.memory_options_gb, low.memory_gb) == (300.0, [36.0, 96.0], 96.0)
    assert "memory_bandwidth_gbs" not in low.derived_fields


def test_every_apple_device_has_a_bandwidth():
    frame = sources.load_devices(DATA)
    assert frame.loc[frame["kind"] == "apple", "memory_bandwidth_gbs"].notna().all()


def test_it_states_tied_embeddings_as_each_config_does():
    frame = sources.load_models(DATA).set_index("name")
    # Llama 3.2 and the Gemma families share one matrix for input and output; Llama 3.1 and Qwen2.5 7B+ do not.
    assert frame.loc["Llama 3.2 1B", "tied_embeddings"] is True
    assert frame.loc["Gemma 3 4B IT", "tied_embeddings"] is True
    assert frame.loc["Llama 3.1 8B", "tied_embeddings"] is False
    assert frame.loc["Qwen2.5 72B", "tied_embeddings"] is False
    assert "tied_embeddings: tie_word_embeddings true" in frame.loc["Llama 3.2 1B", "source"]
    stated = (pd.read_csv(DATA / "models.csv", dtype=str, keep_default_na=False)["tied_embeddings"] != "").sum()
    assert frame["tied_embeddings"].notna().sum() == stated


def test_it_gives_qwen2_5_72b_and_dream_their_config_shapes():
    frame = sources.load_models(DATA).set_index("name")
    qwen = frame.loc["Qwen2.5 72B"]
    assert (qwen.hidden_size, qwen.intermediate_size, qwen.vocab_size, qwen.n_layers) == (8192, 29568, 152064, 80)
    # Dream keeps Qwen2.5-7B's shapes: 28 x (2 x 3584^2 + 2 x 512 x 3584 + 3 x 3584 x 18944) = 6.53e9,
    # plus two untied 152064 x 3584 matrices (1.09e9) = 7.61e9, so 7.6B rather than the name's 7B.
    assert frame.loc["Dream 7B Instruct (v0)", "total_params_b"] == 7.6
    assert frame.loc["d3LLM-Dream", "hidden_size"] == 3584 and frame.loc["d3LLM-LLaDA", "vocab_size"] == 126464
    assert frame.loc["SDAR-8B-Chat", "vocab_size"] == 151936
