"""Diffusion as serving engines run it: SGLang's multi-block path re-runs prompt + canvas every step."""

from __future__ import annotations

import pytest

from estimator.core import pipeline
from estimator.tests.core.conftest import BF16, TEST_GPU, frame

# A LLaDA-8B-shaped full-attention model (docs/diffusion.md family A), 4 tokens per forward.
LLADA = dict(slug="llada-8b", name="LLaDA 8B", generation_mode="block_diffusion", diffusion_attention="full",
             total_params_b=8.0, n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=32, head_dim=128,
             intermediate_size=12288, vocab_size=126464, max_context=4096, block_size=32, tokens_per_forward=4.0)


def one(priors, **workload):
    scen = pipeline.scenarios(frame(LLADA), frame(BF16), frame(TEST_GPU), prompt_len=256, gen_len=256,
                              context=512, **workload)
    return pipeline.estimate(scen, priors).iloc[0]


def test_sglang_runs_every_step_over_the_prompt_and_the_whole_canvas(unit_priors):
    out = one(unit_priors, runtime="sglang")
    # 256 tokens in blocks of 32 = 8 blocks x ceil(32 / 4) = 8 steps: 64 forwards, no refresh or
    # commit forward (no cache), each over prompt + canvas = 512 tokens.
    assert out["diffusion_forwards"] == 64
    # Dense weight FLOPs alone: 64 x 2 x 512 x (8e9 - 126464 x 4096 input embedding) = 4.9e14.
    assert out["diffusion_flops"] > 64 * 2 * 512 * (8e9 - 126464 * 4096)
    assert out["diffusion_bound"] == "compute"
    # The HF scripts' dual cache runs the same 64 forwards, but 56 of them over the 32-token block.
    hf = one(unit_priors, runtime="hf-transformers")
    assert hf["diffusion_forwards"] == 64
    assert hf["diffusion_flops"] < out["diffusion_flops"] / 4


def test_batching_the_multi_block_path_buys_little(unit_priors):
    one_seq = one(unit_priors, runtime="sglang", batch=1)
    eight = one(unit_priors, runtime="sglang", batch=8)
    # A full-canvas forward is compute-bound: 8 sequences are 8x the FLOPs and ~8x the time, so
    # 8 sequences decode at about the tokens/s of one (weights are read once, but they were not
    # the bound: 16 GB at 1 TB/s = 16 ms against 64 x 2 x 512 x 7.5e9 / 1e14 = 4.9 s of compute).
    assert eight["diffusion_tok_s"] / one_seq["diffusion_tok_s"] == pytest.approx(1.0, abs=0.05)


def test_an_explicit_cache_overrides_the_runtimes_scheme(unit_priors):
    assert one(unit_priors, runtime="sglang", diffusion_cache="dual")["diffusion_flops"] == \
        one(unit_priors, runtime="hf-transformers")["diffusion_flops"]
