"""Hand-made catalog rows (schema.py columns, catalog units) and round-number priors.

Tests compute expected figures by hand from these rows, so they do not move when the data or the
fitted priors change.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from estimator.core.priors import load_constants

LLAMA_31_8B = dict(
    slug="llama-3-1-8b", name="Llama 3.1 8B", generation_mode="autoregressive", diffusion_attention="",
    total_params_b=8.0, active_params_b=None, n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=8,
    head_dim=128, intermediate_size=14336, vocab_size=128256, max_context=131072,
)
DIFFUSION_GEMMA = dict(
    slug="diffusiongemma-26b-a4b-it", name="DiffusionGemma 26B-A4B-it", generation_mode="block_diffusion",
    diffusion_attention="block_causal", total_params_b=25.2, active_params_b=3.8, n_layers=30, hidden_size=2816,
    n_heads=16, n_kv_heads=8, head_dim=256, intermediate_size=2112, moe_intermediate_size=704, n_experts=128,
    n_experts_active=8, vocab_size=262144, max_context=262144, sliding_window=1024, n_global_layers=5,
    global_kv_heads=2, global_head_dim=512, block_size=256, tokens_per_forward=16.0, self_conditioning=True,
    vision_params_b=0.55, tied_embeddings=True,
)
DEEPSEEK_V3 = dict(
    slug="deepseek-v3", name="DeepSeek V3", generation_mode="autoregressive", total_params_b=671.0,
    active_params_b=37.0, n_layers=61, hidden_size=7168, n_heads=128, n_kv_heads=128, n_experts=256,
    n_experts_active=8, n_shared_experts=1, n_dense_layers=3, vocab_size=129280, kv_lora_rank=512,
    qk_rope_head_dim=64, moe_intermediate_size=2048,
)
GEMMA_3_27B = dict(
    slug="gemma-3-27b", name="Gemma 3 27B", generation_mode="autoregressive", total_params_b=27.0, n_layers=62,
    hidden_size=5376, n_heads=32, n_kv_heads=16, head_dim=128, vocab_size=262144, sliding_window=1024,
    n_global_layers=10,
)
BF16 = dict(slug="bf16", name="BF16 (safetensors)", family="full", bits_per_weight=16.0, compute_dtype="bf16",
            quality_tier="reference")
F16 = dict(slug="f16", name="F16", family="gguf", bits_per_weight=16.0, compute_dtype="fp16", quality_tier="reference")
Q8_0 = dict(slug="q8-0", name="Q8_0", family="gguf", bits_per_weight=8.5, compute_dtype="fp16", ppl_delta=0.0026)
Q4_K_M = dict(slug="q4-k-m", name="Q4_K_M", family="gguf", bits_per_weight=4.8944, compute_dtype="fp16", ppl_delta=0.1754)
# A round-number accelerator: 100 GiB usable, 1 TB/s, 100 TFLOP/s FP16/BF16, 10 TFLOP/s FP32.
TEST_GPU = dict(
    slug="test-gpu", name="Test GPU", vendor="Acme", kind="gpu", memory_gb=100.0, memory_bandwidth_gbs=1000.0,
    fp32_tflops=10.0, fp16_tflops=100.0, bf16_tflops=100.0, tdp_w=500.0, usable_memory_fraction=1.0,
    interconnect_gbs=100.0, host_bandwidth_gbs=32.0,
)
TEST_MAC = dict(
    slug="test-mac", name="Test Mac", vendor="Apple", kind="apple", memory_gb=64.0, memory_bandwidth_gbs=400.0,
    fp32_tflops=10.0, usable_memory_fraction=0.75,
)


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([dict(r) for r in rows])


@pytest.fixture
def unit_priors() -> dict:
    """Priors with no losses at all: eff 1, no fixed time, no dequant cost, FP16 rates everywhere.

    Under these, a figure is exactly the roofline of its bytes and FLOPs.
    """
    constants = copy.deepcopy(load_constants())
    return {
        "groups": [{"runtime": "*", "kind": "*", "eff_m": 1.0, "eff_c": 1.0, "eff_attn": 1.0, "t_fixed_s": 0.0,
                    "t_layer_s": 0.0, "cap_bytes_per_cycle": float("inf"),
                    "error_pct": {"decode": 10.0, "prefill": 20.0, "diffusion": 30.0}}],
        "dequant_ops_per_weight": {"none": 0.0},
        "gemm_factor": {"none": 1.0},
        "expert_half_tokens": 0.0,
        "constants": constants,
    }


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)
