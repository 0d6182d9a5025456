"""The scenario pipeline: one code path for one estimate and for the whole matrix; JSON safety."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from estimator.core import pipeline
from estimator.core.hardware import peak_flops
from estimator.core.architecture import Coded
from estimator.tests.core.conftest import (
    BF16, DIFFUSION_GEMMA, F16, LLAMA_31_8B, Q4_K_M, Q8_0, TEST_GPU, TEST_MAC, frame,
)


def test_it_cross_joins_every_model_quant_and_device(unit_priors):
    models, quants, devices = frame(LLAMA_31_8B, DIFFUSION_GEMMA), frame(BF16, Q8_0, Q4_K_M), frame(TEST_GPU, TEST_MAC)
    out = pipeline.compatibility_matrix(models, quants, devices, priors=unit_priors, context=8192)
    assert len(out) == 2 * 3 * 2
    assert set(zip(out["model_slug"], out["quant_slug"], out["device_slug"])) == {
        (m, q, d) for m in ("llama-3-1-8b", "diffusiongemma-26b-a4b-it") for q in ("bf16", "q8-0", "q4-k-m")
        for d in ("test-gpu", "test-mac")}


def test_one_estimate_is_the_matrix_row(unit_priors):
    matrix = pipeline.compatibility_matrix(frame(LLAMA_31_8B, DIFFUSION_GEMMA), frame(BF16, Q4_K_M),
                                           frame(TEST_GPU, TEST_MAC), priors=unit_priors, context=8192)
    single = pipeline.estimate_one(DIFFUSION_GEMMA, Q4_K_M, TEST_MAC, priors=unit_priors, context=8192)
    row = pipeline.json_records(matrix[(matrix["model_slug"] == "diffusiongemma-26b-a4b-it")
                                       & (matrix["quant_slug"] == "q4-k-m") & (matrix["device_slug"] == "test-mac")])[0]
    for key, value in single.items():
        assert row[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), key


def test_its_records_are_json_safe(unit_priors):
    no_peaks = dict(TEST_GPU, slug="mystery", name="Mystery", fp32_tflops=None, fp16_tflops=None, bf16_tflops=None,
                    tdp_w=None, memory_gb=None)
    out = pipeline.compatibility_matrix(frame(LLAMA_31_8B, DIFFUSION_GEMMA), frame(BF16), frame(TEST_GPU, no_peaks),
                                        priors=unit_priors)
    records = pipeline.json_records(out)
    text = json.dumps(records, allow_nan=False)          # raises on NaN/inf
    assert "NaN" not in text and "Infinity" not in text
    assert any(value is None for value in records[1].values())


def test_it_reports_decode_but_not_prefill_without_a_peak(unit_priors):
    no_peaks = dict(TEST_GPU, fp32_tflops=None, fp16_tflops=None, bf16_tflops=None)
    out = pipeline.estimate(pipeline.scenarios(frame(LLAMA_31_8B), frame(BF16), frame(no_peaks), decode_context=0),
                            unit_priors).iloc[0]
    assert np.isnan(out["peak_flops"])
    assert np.isnan(out["prefill_tok_s"]) and np.isnan(out["ttft_s"])
    assert out["decode_tok_s"] == pytest.approx(1e12 / ((8e9 - 128256 * 4096) * 2 + 131072 + 128256 * 8), rel=1e-9)


def test_it_falls_back_to_a_published_peak_and_says_so():
    devices = frame(dict(TEST_GPU, fp8_tflops=None), dict(TEST_MAC))
    peak, source = peak_flops(devices, Coded(np.array([0, 0]), np.array(["fp8"], dtype=object)))
    assert peak.tolist() == [100e12, 10e12]
    assert source.values.tolist() == ["fp16_tflops", "fp32_tflops"]


def test_it_runs_gguf_on_llama_cpp_at_fp16_and_doubles_geforce_fp16_accumulation(unit_priors):
    geforce = dict(TEST_GPU, slug="rtx", name="NVIDIA GeForce RTX Test", fp4_tflops=400.0)
    mxfp4 = dict(Q4_K_M, slug="mxfp4", name="MXFP4 (GGUF)", compute_dtype="fp4")
    out = pipeline.estimate(pipeline.scenarios(frame(LLAMA_31_8B), frame(F16, mxfp4), frame(TEST_GPU, geforce),
                                               runtime="llama-cpp"), unit_priors)
    # No FP4 tensor math for GGUF; GeForce runs llama.cpp's FP16-accumulate GEMMs at 2x.
    assert out["peak_flops"].tolist() == [100e12, 200e12, 100e12, 200e12]
    vllm = pipeline.estimate(pipeline.scenarios(frame(LLAMA_31_8B), frame(mxfp4), frame(geforce), runtime="vllm"),
                             unit_priors)
    assert vllm["peak_flops"].tolist() == [400e12]


def test_it_picks_a_default_runtime_per_format_and_device_kind(unit_priors):
    awq = dict(Q4_K_M, slug="awq", name="AWQ int4", family="awq")
    out = pipeline.estimate(pipeline.scenarios(frame(LLAMA_31_8B, DIFFUSION_GEMMA), frame(Q4_K_M, awq),
                                               frame(TEST_GPU, TEST_MAC)), unit_priors)
    runtimes = dict(zip(zip(out["model_slug"], out["quant_slug"], out["device_slug"]), out["runtime"]))
    assert runtimes[("llama-3-1-8b", "q4-k-m", "test-gpu")] == "llama-cpp"
    assert runtimes[("llama-3-1-8b", "awq", "test-gpu")] == "vllm"
    assert runtimes[("llama-3-1-8b", "awq", "test-mac")] == "llama-cpp"
    assert runtimes[("diffusiongemma-26b-a4b-it", "q4-k-m", "test-gpu")] == "hf-transformers"


def test_it_accepts_per_row_workloads(unit_priors):
    scen = pipeline.paired_scenarios(frame(LLAMA_31_8B, LLAMA_31_8B), frame(BF16, BF16), frame(TEST_GPU, TEST_GPU),
                                     context=np.array([1024, 8192]), batch=np.array([1, 2]))
    out = pipeline.estimate(scen, unit_priors)
    assert out["mem_kv_cache_bytes"].tolist() == [1024 * 131072, 2 * 8192 * 131072]


def test_it_rejects_unknown_workload_parameters():
    with pytest.raises(ValueError, match="unknown workload"):
        pipeline.scenarios(frame(LLAMA_31_8B), frame(BF16), frame(TEST_GPU), contxt=4096)


def test_it_computes_a_whole_catalog_sized_matrix_column_wise(unit_priors):
    # 40 models x 20 formats x 60 devices = 48,000 scenarios through one call (speed: bench/).
    models = pd.DataFrame([dict(LLAMA_31_8B, slug=f"m{i}", name=f"M{i}", total_params_b=1.0 + i) for i in range(40)])
    quants = pd.DataFrame([dict(Q4_K_M, slug=f"q{i}", name=f"Q{i}", bits_per_weight=2.0 + i * 0.5) for i in range(20)])
    devices = pd.DataFrame([dict(TEST_GPU, slug=f"d{i}", name=f"D{i}", memory_gb=8.0 + 4 * i) for i in range(60)])
    out = pipeline.compatibility_matrix(models, quants, devices, priors=unit_priors)
    assert len(out) == 48_000
    assert set(out["verdict"]) <= {"fits", "offload", "multi_device", "no_fit"}
    # Bigger models never fit better on the same device and format.
    first = out[(out["quant_slug"] == "q0") & (out["device_slug"] == "d0")]
    assert first["mem_total_bytes"].is_monotonic_increasing


def test_every_output_column_is_documented(unit_priors):
    out = pipeline.compatibility_matrix(frame(LLAMA_31_8B, DIFFUSION_GEMMA), frame(BF16), frame(TEST_GPU),
                                        priors=unit_priors)
    assert list(out.columns) == list(pipeline.OUTPUT_COLUMNS)


def test_it_shows_the_flops_and_bytes_behind_each_pass():
    """Llama-3.1-8B BF16 decode at batch 1: ~2 FLOPs per non-embedding parameter plus the LM
    head, and the weights read once (minus the input-embedding gather) plus the KV cache."""
    import numpy as np

    from estimator.core import pipeline

    model = {"slug": "m", "name": "m", "generation_mode": "autoregressive", "diffusion_attention": "",
             "total_params_b": 8.03, "n_layers": 32, "hidden_size": 4096, "n_heads": 32, "n_kv_heads": 8,
             "head_dim": 128, "intermediate_size": 14336, "vocab_size": 128256, "max_context": 131072}
    quant = {"slug": "bf16", "name": "BF16", "family": "full", "bits_per_weight": 16.0, "compute_dtype": "bf16"}
    device = {"slug": "d", "name": "d", "vendor": "NVIDIA", "kind": "gpu", "memory_gb": 80.0,
              "memory_bandwidth_gbs": 3350.0, "bf16_tflops": 989.0, "fp32_tflops": 67.0, "usable_memory_fraction": 1.0}
    out = pipeline.estimate_one(model, quant, device, context=1024, prompt_len=1024, decode_context=1024)
    embedding = 128256 * 4096
    # 2 FLOPs per parameter outside the input embedding (LM head included), plus attention:
    # 4 x layers x attended keys x heads x head_dim (QK^T and PV).
    attention = 4 * 32 * 1024 * 32 * 128
    assert out["decode_flops"] == pytest.approx(2 * (8.03e9 - embedding) + attention, rel=0.01)
    kv = 1024 * 32 * 2 * 8 * 128 * 2
    assert out["decode_bytes"] == pytest.approx((8.03e9 - embedding) * 2 + kv, rel=0.03)
    assert out["prefill_flops"] == pytest.approx(1024 * 2 * (8.03e9 - embedding), rel=0.10)
    assert out["prefill_passes"] >= 1
    assert np.isnan(out["diffusion_flops"]) if isinstance(out["diffusion_flops"], float) else out["diffusion_flops"] is None


def test_a_figure_that_is_not_computed_names_no_bound():
    """A device without a memory size gets no speed, so no bound either (never a stray 'overhead')."""
    import pandas as pd

    from estimator.core import pipeline

    model = {"slug": "m", "name": "m", "generation_mode": "autoregressive", "diffusion_attention": "",
             "total_params_b": 8.0, "n_layers": 32, "hidden_size": 4096, "n_heads": 32, "n_kv_heads": 8,
             "head_dim": 128, "intermediate_size": 14336, "vocab_size": 128256, "max_context": 131072}
    quant = {"slug": "q", "name": "q", "family": "gguf", "bits_per_weight": 4.8944, "compute_dtype": "fp16"}
    cpu = {"slug": "cpu", "name": "cpu", "vendor": "AMD", "kind": "cpu", "memory_gb": None,
           "memory_bandwidth_gbs": None, "usable_memory_fraction": 1.0}
    out = pipeline.estimate_one(model, quant, cpu)
    assert out["verdict"] == "unknown"
    assert out["gen_tok_s"] is None or pd.isna(out["gen_tok_s"])
    assert out["gen_bound"] is None and out["decode_bound"] is None


def test_attention_runs_on_the_fp16_path_not_the_int8_gemm_path():
    from estimator.core.architecture import coded
    from estimator.core.hardware import runtime_peaks
    nvidia = dict(TEST_GPU, vendor="NVIDIA", int8_tops=200.0)
    pascal = dict(TEST_GPU, slug="p", vendor="NVIDIA", fp16_tflops=0.2, bf16_tflops=None, int8_tops=47.0)
    devices = frame(nvidia, pascal)
    fp16 = Coded(np.array([0, 0]), np.array(["fp16"], dtype=object))
    peaks = runtime_peaks(devices, fp16, Coded(np.array([0, 0]), np.array(["llama-cpp"], dtype=object)),
                          Coded(np.array([0, 0]), np.array(["kquant"], dtype=object)), coded(devices, "kind"))
    # Quantised weight GEMMs take MMQ's int8 rate; attention (FP16 KV cache) does not, and a part
    # whose FP16 is a 1/64-rate path computes it in FP32.
    assert peaks.flops.tolist() == [200e12, 47e12]
    assert peaks.attention.tolist() == [100e12, 10e12]


def test_text_as_codes_reads_as_the_frames_text(unit_priors):
    # A kept table takes its text as codes into labels (`text_codes`): the values must be those of
    # the estimate frame's columns, missing included, whatever the column.
    scenarios = pipeline.scenarios(frame(LLAMA_31_8B, DIFFUSION_GEMMA), frame(BF16, Q4_K_M), frame(TEST_GPU, TEST_MAC),
                                   context=8192)
    expected = pipeline.estimate(scenarios, unit_priors)
    columns = pipeline.estimate_columns(scenarios, unit_priors, text_codes=True)
    coded = [name for name, values in columns.items() if isinstance(values, Coded)]
    assert {"model_name", "verdict", "decode_bound", "derived", "runtime"} <= set(coded)
    for name in coded:
        got = pd.Series(columns[name].values, dtype=object)
        assert got.equals(expected[name].astype(object).reset_index(drop=True)), name
