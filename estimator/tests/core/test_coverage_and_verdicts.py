"""Every device with a bandwidth gets a speed; verdicts and grades describe the configuration asked."""

from __future__ import annotations

import numpy as np
import pytest

from estimator.core import pipeline
from estimator.tests.core.conftest import BF16, LLAMA_31_8B, Q4_K_M, TEST_GPU, TEST_MAC, frame


def one(model, quant, device, priors, **workload):
    scen = pipeline.scenarios(frame(model), frame(quant), frame(device), **workload)
    return pipeline.estimate(scen, priors).iloc[0]


# An Apple GPU-core variant as the catalog has it: a bandwidth, no memory size, no FLOP/s.
APPLE_VARIANT = dict(TEST_MAC, slug="apple-m3-max-40-core-gpu", name="Apple M3 Max (40-core GPU)", memory_gb=None,
                     fp32_tflops=None)
DENSE_120GB = dict(LLAMA_31_8B, slug="dense-60b", name="Dense 60B", total_params_b=60.0, n_layers=60,
                   hidden_size=8192, n_heads=64, vocab_size=32000)


def test_an_apple_gpu_core_variant_gets_a_decode_speed_with_its_bound_and_band(unit_priors):
    out = one(LLAMA_31_8B, BF16, APPLE_VARIANT, unit_priors, decode_context=0)
    # Bytes of one decode step, BF16: weights less the input embedding (8e9 - 128256 x 4096) x 2
    # = 14,949,326,848; KV of one token 32 x 2 x 8 x 128 x 2 = 131,072; fp32 logits written and
    # read 128256 x 4 x 2 = 1,026,048. Total 14,950,483,968 B at 400 GB/s = 0.0373762 s.
    assert out["decode_tok_s"] == pytest.approx(400e9 / 14_950_483_968, rel=1e-6)   # 26.755 tok/s
    assert out["decode_bound"] == "memory"
    assert out["verdict"] == "unknown"
    assert "memory size is not in the catalog" in out["verdict_reason"]
    # No FLOP/s published: the compute term is unknown, not 0, and the band doubles (10% -> 20%).
    assert not out["decode_compute_known"]
    assert np.isnan(out["decode_compute_s"])
    assert out["error_band"] == pytest.approx(0.20)


def test_memory_gb_of_the_scenario_changes_the_verdict(unit_priors):
    # 8B at BF16 = 16 GB of weights. 16 GiB x 0.75 (the GPU's share) = 12 GiB: no fit (unified
    # memory: no offload, no second device). 64 GiB x 0.75 = 48 GiB: fits.
    small = one(LLAMA_31_8B, BF16, APPLE_VARIANT, unit_priors, device_memory_gb=16.0)
    large = one(LLAMA_31_8B, BF16, APPLE_VARIANT, unit_priors, device_memory_gb=64.0)
    assert small["verdict"] == "no_fit"
    assert small["mem_usable_bytes"] == 12 * 2**30
    assert large["verdict"] == "fits"
    assert large["mem_usable_bytes"] == 48 * 2**30


def test_one_device_without_offload_is_no_fit_not_two_devices(unit_priors):
    # 60B at BF16 = 120 GB > 100 GiB (107.4 GB): needs two devices; the scenario fixed one, no offload.
    out = one(DENSE_120GB, BF16, TEST_GPU, unit_priors, n_devices=1, scale_out=False, host_memory_gb=0.0)
    assert out["verdict"] == "no_fit"
    assert out["n_devices"] == 1
    assert out["devices_needed"] == 2           # said, as a suggestion
    assert np.isnan(out["decode_tok_s"])
    assert out["grade"] == "F"


def test_the_default_for_a_model_that_does_not_fit_is_offload_when_host_ram_allows(unit_priors):
    # The same 120 GB on one 100 GiB device with 64 GiB of host RAM: offload, on the device asked.
    out = one(DENSE_120GB, BF16, TEST_GPU, unit_priors)
    assert out["verdict"] == "offload"
    assert out["n_devices"] == 1
    assert out["configuration_note"] == ""


def test_a_multi_device_answer_is_graded_for_its_devices_and_says_so(unit_priors):
    # No host RAM to offload to, count not fixed: two devices in tensor parallel.
    multi = one(DENSE_120GB, BF16, TEST_GPU, unit_priors, host_memory_gb=0.0, decode_context=0)
    # One device with room for it (1000 GiB): the single-device fit of the same model.
    single = one(DENSE_120GB, BF16, dict(TEST_GPU, memory_gb=1000.0), unit_priors, decode_context=0)
    assert multi["verdict"] == "multi_device" and multi["n_devices"] == 2
    # Bytes per step: weights (60e9 - 32000 x 8192) x 2 = 119,475,712,000 + KV of one token
    # 60 x 2 x 8 x 128 x 2 = 245,760 + logits 32000 x 4 x 2 = 256,000. One device at 1 TB/s:
    # 0.1194757 s -> 8.37 tok/s (C). Two devices read half each, 0.0597381 s, plus two all-reduces
    # per layer of 8192 x 2 B at 100 GB/s + 10 us: 120 x (16384 / 100e9 + 1e-5) = 1.2197 ms
    # -> 0.0609578 s -> 16.405 tok/s (B).
    assert single["gen_tok_s_batch1"] == pytest.approx(1e12 / 119_476_213_760, rel=1e-6)
    assert single["grade"] == "C"
    assert multi["gen_tok_s_batch1"] == pytest.approx(1 / (119_476_213_760 / 2 / 1e12 + 120 * (16384 / 100e9 + 1e-5)),
                                                      rel=1e-6)
    assert multi["grade"] == "B\u00d72"
    assert multi["grade"] != single["grade"]
    assert multi["configuration_note"] == "figures for 2 devices in tensor parallel; the scenario asked about 1"


def test_qwen_72b_without_its_hidden_size_does_not_fit_24_gb(unit_priors):
    # Qwen2.5 72B with the hidden size missing (the KV cache and the embedding split are unknown):
    # its weights alone are 72.7e9 x 4.8944 / 8 = 44.48 GB > 24 GiB (25.8 GB): no_fit, not unknown.
    qwen = dict(LLAMA_31_8B, slug="qwen2-5-72b", name="Qwen2.5 72B", total_params_b=72.7, n_layers=80,
                hidden_size=None, n_heads=64, n_kv_heads=8, head_dim=None, vocab_size=None)
    card = dict(TEST_GPU, memory_gb=24.0)
    out = one(qwen, Q4_K_M, card, unit_priors, host_memory_gb=0.0)
    assert out["verdict"] == "no_fit"
    assert "already exceeds" in out["verdict_reason"]
    roomy = one(qwen, Q4_K_M, dict(TEST_GPU, memory_gb=80.0), unit_priors)
    assert roomy["verdict"] == "unknown"     # 44.5 GB < 80 GiB: the missing part decides


def test_an_inline_device_with_a_tiny_fp16_peak_is_compute_bound_and_slow(unit_priors):
    # fp16 = 1e-6 TFLOP/s = 1e6 FLOP/s and no FP32 figure: the matrix-vector decode runs at that
    # peak. FLOPs of one step ~ 2 x (8e9 - 525M) = 1.5e10 -> ~15,000 s per token.
    slow = dict(TEST_GPU, slug="slow", name="Slow", fp32_tflops=None, fp16_tflops=0.000001, bf16_tflops=None)
    out = one(LLAMA_31_8B, BF16, slow, unit_priors, decode_context=0)
    assert out["decode_bound"] == "compute"
    assert out["decode_tok_s"] < 1e-3
    assert out["vector_peak_source"] == "fp16_tflops (compute dtype)"
    assert out["grade"] == "C"


def test_an_unknown_fp32_figure_is_not_a_compute_time_of_zero(unit_priors):
    # No FP32, no FP16, no shader figure: nothing the decode's ALUs run at is published.
    blind = dict(TEST_GPU, slug="blind", name="Blind", fp32_tflops=None, fp16_tflops=None, bf16_tflops=None)
    out = one(LLAMA_31_8B, BF16, blind, unit_priors)
    assert np.isnan(out["decode_compute_s"])
    assert out["decode_compute_s"] != 0.0
    assert out["decode_tok_s"] > 0       # the memory-bound figure, an upper bound
    assert np.isnan(out["prefill_tok_s"])   # a GEMM with no peak: unknown, never memory-only
