"""Prior lookup with fallbacks, calibrations that replace priors, and the committed priors.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from estimator.core import pipeline, priors as priors_mod
from estimator.core.priors import fallback_keys, load_priors, resolve
from estimator.tests.core.conftest import BF16, LLAMA_31_8B, TEST_GPU, frame


def group(runtime, kind, eff_m, decode_err=None):
    return {"runtime": runtime, "kind": kind, "eff_m": eff_m, "eff_c": 0.5, "eff_attn": 0.1, "t_fixed_s": 0.0,
            "t_layer_s": 0.0, "cap_bytes_per_cycle": 1e4, "error_pct": {"decode": decode_err, "prefill": None, "diffusion": None}}


PRIORS = {"groups": [group("*", "*", 0.1, 30.0), group("llama-cpp", "*", 0.2, 20.0), group("llama-cpp", "gpu", 0.3),
                     group("llama-cpp", "gpu:nvidia", 0.4, 8.0), group("llama-cpp@2023", "*", 0.5)]}


def test_it_falls_back_from_vendor_to_kind_to_runtime_to_global():
    assert fallback_keys("llama-cpp@2023", "gpu:amd") == [
        ("llama-cpp@2023", "gpu:amd"), ("llama-cpp@2023", "gpu"), ("llama-cpp@2023", "*"),
        ("llama-cpp", "gpu:amd"), ("llama-cpp", "gpu"), ("llama-cpp", "*"), ("*", "*")]
    eff = resolve(PRIORS, np.array(["llama-cpp", "llama-cpp", "llama-cpp", "vllm", "llama-cpp@2023"]),
                  np.array(["gpu:nvidia", "gpu:amd", "apple", "gpu:nvidia", "gpu:nvidia"]))
    assert eff.eff_m.tolist() == [0.4, 0.3, 0.2, 0.1, 0.5]
    assert eff.group.tolist() == ["llama-cpp|gpu:nvidia", "llama-cpp|gpu", "llama-cpp|*", "*|*", "llama-cpp@2023|*"]


def test_it_carries_the_nearest_measured_error_band():
    eff = resolve(PRIORS, np.array(["llama-cpp", "llama-cpp", "vllm"]), np.array(["gpu:nvidia", "gpu:amd", "gpu"]))
    # gpu:amd falls to llama-cpp|gpu for parameters, which has no band: the runtime's applies.
    assert eff.error_band["decode"].tolist() == [0.08, 0.20, 0.30]
    assert not eff.calibrated.any()


def test_it_replaces_the_prior_with_a_calibration(unit_priors):
    cal = pd.DataFrame([{"device_slug": "test-gpu", "runtime": "llama-cpp", "eff_m": 0.5, "eff_c": 0.4,
                         "t_fixed": 0.002, "error_pct": 4.0}])
    scen = pipeline.scenarios(frame(LLAMA_31_8B), frame(BF16), frame(TEST_GPU, dict(TEST_GPU, slug="other")),
                              runtime="llama-cpp", decode_context=0)
    out = pipeline.estimate(scen, unit_priors, cal)
    assert out["calibrated"].tolist() == [True, False]
    assert out["error_band"].tolist() == [0.04, 0.10]
    assert out["prior_group"].tolist() == ["calibration", "*|*"]
    assert out["decode_pass_s"].iloc[0] == pytest.approx(out["decode_memory_s"].iloc[1] / 0.5 + 0.002, rel=1e-9)


def test_it_resolves_many_rows_through_few_distinct_pairs():
    runtime = np.array(["llama-cpp", "vllm"] * 50_000, dtype=object)
    kind = np.array(["gpu:nvidia"] * 100_000, dtype=object)
    eff = resolve(PRIORS, runtime, kind)
    assert eff.eff_m[:4].tolist() == [0.4, 0.1, 0.4, 0.1]


def test_the_committed_priors_are_complete_and_finite():
    priors = load_priors()
    table = {(g["runtime"], g["kind"]): g for g in priors["groups"]}
    assert ("*", "*") in table
    for runtime in ("llama-cpp", "llama-cpp@2023", "mlc-llm@2023", "vllm@2023", "exllama@2023", "hf-transformers"):
        assert (runtime, "*") in table, runtime
    for g in priors["groups"]:
        for name in priors_mod.PARAMETERS:
            assert math.isfinite(g[name]) and g[name] > 0, (g["runtime"], g["kind"], name)
        assert 0 < g["eff_m"] <= 1 and 0 < g["eff_c"] <= 1
    assert priors["dequant_ops_per_weight"]["none"] == 0 and priors["gemm_factor"]["none"] == 1
    assert table[("*", "*")]["error_pct"]["decode"] is not None
    json.dumps(priors, allow_nan=False)


def test_it_classifies_weight_formats_for_dequantisation():
    names = np.array(["Q4_K_M", "Q4_0", "IQ4_XS", "F16", "GPTQ int4", "FP8 E4M3", "NVFP4", "MXFP4 (GGUF)"], dtype=object)
    families = np.array(["gguf", "gguf", "gguf", "gguf", "gptq", "fp8", "nvfp4", "gguf"], dtype=object)
    bits = np.array([4.89, 4.5, 4.46, 16.0, 4.16, 8.0, 4.5, 4.25])
    assert priors_mod.dequant_class(names, families, bits).values.tolist() == [
        "kquant", "legacy", "iquant", "none", "int_group", "fp8", "fp4", "fp4"]
