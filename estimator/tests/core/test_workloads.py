"""Workloads: prefill, TTFT, tensor parallel, layer split, block diffusion (both families)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from estimator.core import pipeline
from estimator.core.architecture import model_arrays
from estimator.core.passes import pass_cost
from estimator.core.workloads import steps_per_block
from estimator.tests.core.conftest import BF16, DIFFUSION_GEMMA, LLAMA_31_8B, TEST_GPU, frame

EMBEDDING = 128256 * 4096


def run(model, quant, device, priors, **workload):
    scen = pipeline.scenarios(frame(model), frame(quant), frame(device), **workload)
    return pipeline.estimate(scen, priors).iloc[0]


def test_it_names_prefill_compute_bound_and_times_it_by_flops(unit_priors):
    # 512 tokens, one chunk, empty cache: FLOPs / 100 TFLOP/s (weights read once: 15 ms < 71 ms).
    out = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, prompt_len=512, prefill_chunk=512)
    m = model_arrays(frame(LLAMA_31_8B))
    cost = pass_cost(m, np.array([2.0]), 2.0, tokens=512.0, batch=1.0, cached=0.0, causal=True, logits_rows=1.0)
    flops = 2 * 512 * (8e9 - 2 * EMBEDDING) + 2 * EMBEDDING + cost.attn_flops[0]
    assert out["prefill_s"] == pytest.approx(flops / 100e12, rel=1e-9)
    assert out["prefill_tok_s"] == pytest.approx(512 / (flops / 100e12), rel=1e-9)
    assert out["prefill_bound"] == "compute"


def test_it_adds_the_first_decode_pass_to_the_time_to_first_token(unit_priors):
    out = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, prompt_len=512, prefill_chunk=512, decode_context=512)
    assert out["ttft_s"] == pytest.approx(out["prefill_s"] + out["decode_pass_s"], rel=1e-9)


def test_it_charges_a_fixed_time_per_pass_and_per_layer(unit_priors):
    priors = copy.deepcopy(unit_priors)
    priors["groups"][0].update(t_fixed_s=0.001, t_layer_s=0.0001)
    slow = run(LLAMA_31_8B, BF16, TEST_GPU, priors, decode_context=0)
    fast = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, decode_context=0)
    assert slow["decode_pass_s"] - fast["decode_pass_s"] == pytest.approx(0.001 + 32 * 0.0001)
    tiny = run(dict(LLAMA_31_8B, total_params_b=0.6, hidden_size=1024, n_heads=8), BF16, TEST_GPU, priors,
               decode_context=0)
    assert tiny["decode_bound"] == "overhead"


def test_it_splits_bytes_over_tensor_parallel_devices_and_pays_the_all_reduces(unit_priors):
    one = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, decode_context=0)
    two = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, decode_context=0, n_devices=2, parallel="tensor")
    latency = unit_priors["constants"]["link_latency_s"]["device_link"]
    # Two all-reduces per layer of 1 token x 4096 x 2 bytes; ring: 2(n-1)/n of it over 100 GB/s.
    comm = 2 * 32 * (2 * 1 / 2 * 4096 * 2 / 100e9 + latency)
    assert two["decode_pass_s"] == pytest.approx(one["decode_pass_s"] / 2 + comm, rel=1e-9)
    assert two["n_devices"] == 2 and two["parallel"] == "tensor"


def test_it_pipelines_prefill_chunks_over_layer_split_devices(unit_priors):
    # 4 chunks of 512 (one llama_decode call of 2048) over 4 devices in turn: (4 + 4 - 1)
    # stage-times of a quarter pass each.
    one = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, prompt_len=2048, prefill_chunk=512)
    four = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, prompt_len=2048, prefill_chunk=512, n_devices=4,
               parallel="layers")
    latency = unit_priors["constants"]["link_latency_s"]["device_link"]
    hops = 4 * 3 * (512 * 4096 * 2 / 100e9 + latency)
    assert four["prefill_s"] - hops == pytest.approx(one["prefill_s"] * 7 / 16, rel=1e-9)
    # A longer prompt is several calls: only the chunks of one call overlap. 8 chunks = 2 calls.
    one8 = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, prompt_len=4096, prefill_chunk=512)
    four8 = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, prompt_len=4096, prefill_chunk=512, n_devices=4,
                parallel="layers")
    assert four8["prefill_s"] - 2 * hops == pytest.approx(one8["prefill_s"] * 7 / 16, rel=1e-9)
    # Decode steps depend on each other: a layer split does not speed them up.
    d1 = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, decode_context=0)
    d4 = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, decode_context=0, n_devices=4, parallel="layers")
    assert d4["decode_pass_s"] == pytest.approx(d1["decode_pass_s"] + 3 * (4096 * 2 / 100e9 + latency))


def test_it_counts_denoising_steps_from_tokens_per_forward():
    # The mean forwards per block (TPF is a ratio of totals), at least one per block.
    steps = steps_per_block(np.array([32.0, 256.0, 4.0]), np.array([3.0, 16.0, 15.0]), np.full(3, np.nan))
    assert steps.tolist() == pytest.approx([32 / 3, 16.0, 1.0])
    assert steps_per_block(np.array([32.0]), np.array([3.0]), np.array([4.0])).tolist() == [4]


BIG_GPU = dict(TEST_GPU, memory_gb=1000.0)
AR_TWIN = dict(DIFFUSION_GEMMA, slug="ar-twin", name="AR twin", generation_mode="autoregressive",
               diffusion_attention="")


def test_it_shows_the_crossover_few_steps_beat_autoregression_and_s_equal_b_loses(unit_priors):
    ar = run(AR_TWIN, BF16, BIG_GPU, unit_priors, prompt_len=512, gen_len=256, decode_context=640)
    fast = run(DIFFUSION_GEMMA, BF16, BIG_GPU, unit_priors, prompt_len=512, gen_len=256, tokens_per_forward=16)
    slow = run(DIFFUSION_GEMMA, BF16, BIG_GPU, unit_priors, prompt_len=512, gen_len=256, tokens_per_forward=1)
    assert fast["diffusion_steps_per_block"] == 16 and slow["diffusion_steps_per_block"] == 256
    assert fast["gen_tok_s"] > 1.5 * ar["gen_tok_s"]
    assert slow["gen_tok_s"] < 0.5 * ar["gen_tok_s"]


def test_it_times_a_block_causal_block_as_steps_plus_one_commit(unit_priors):
    # One block (gen = B = 256) after a 512-token prompt: S steps and a commit, both over 512 keys.
    out = run(DIFFUSION_GEMMA, BF16, BIG_GPU, unit_priors, prompt_len=512, gen_len=256, tokens_per_forward=16)
    m = model_arrays(frame(DIFFUSION_GEMMA))
    two = np.array([2.0])
    step = pass_cost(m, two, 2.0, tokens=256.0, batch=1.0, cached=512.0, causal=False, logits_rows=256.0,
                     self_conditioning=True)
    commit = pass_cost(m, two, 2.0, tokens=256.0, batch=1.0, cached=512.0, causal=False, logits_rows=0.0)

    def seconds(c):   # unit priors: plain roofline, expert GEMMs at full rate (expert_half_tokens 0)
        return max((c.flops[0] + c.expert_flops[0] + c.attn_flops[0]) / 100e12, c.bytes[0] / 1e12)

    assert out["diffusion_s"] == pytest.approx(16 * seconds(step) + seconds(commit), rel=1e-9)
    assert out["diffusion_tok_s"] == pytest.approx(256 / out["diffusion_s"], rel=1e-9)


LLADA = dict(LLAMA_31_8B, slug="llada", name="LLaDA-like", generation_mode="block_diffusion",
             diffusion_attention="full", n_kv_heads=32, block_size=32, tokens_per_forward=3.0)


def test_it_orders_full_attention_caches_none_slower_than_prefix_slower_than_dual(unit_priors):
    times = {cache: run(LLADA, BF16, BIG_GPU, unit_priors, prompt_len=512, gen_len=256, diffusion_cache=cache)["diffusion_s"]
             for cache in ("none", "prefix", "dual")}
    assert times["none"] > times["prefix"] > times["dual"]


def test_it_runs_every_no_cache_step_over_prompt_and_canvas(unit_priors):
    # Vanilla LLaDA, 1 token per step: gen_len full forwards of prompt + canvas (768 tokens).
    out = run(LLADA, BF16, BIG_GPU, unit_priors, prompt_len=512, gen_len=256, diffusion_cache="none",
              tokens_per_forward=1)
    m = model_arrays(frame(LLADA))
    full = pass_cost(m, np.array([2.0]), 0.0, tokens=768.0, batch=1.0, cached=0.0, causal=False, logits_rows=768.0)
    per = max((full.flops[0] + full.attn_flops[0]) / 100e12, full.bytes[0] / 1e12)
    assert out["diffusion_s"] == pytest.approx(256 * per, rel=1e-9)
    assert out["diffusion_bound"] == "compute"


def test_it_adds_unfused_attention_score_traffic_to_a_compute_bound_prefill(unit_priors):
    # The score kernels run between the GEMMs: their traffic adds, it does not hide under the max().
    fused = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, prompt_len=512, prefill_chunk=512, flash_attention=1)
    unfused = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, prompt_len=512, prefill_chunk=512, flash_attention=0)
    scores = 512 * (513 / 2) * 32 * 32 * 16
    assert unfused["prefill_s"] - fused["prefill_s"] == pytest.approx(scores / 1e12, rel=1e-9)
    assert fused["prefill_bound"] == unfused["prefill_bound"] == "compute"
    # Not stated: fused (every current runtime's default).
    default = run(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, prompt_len=512, prefill_chunk=512)
    assert default["prefill_s"] == fused["prefill_s"]


def test_it_gives_a_cached_full_attention_block_one_step_after_its_refresh_even_at_high_tpf(unit_priors):
    # Fast-dLLM's cached loops call the model once after the refresh before testing completion
    # (docs/diffusion.md §1.2): a TPF of the block size still costs refresh + one cached step.
    one = run(LLADA, BF16, BIG_GPU, unit_priors, prompt_len=512, gen_len=256, diffusion_cache="dual",
              tokens_per_forward=32)["diffusion_s"]
    two = run(LLADA, BF16, BIG_GPU, unit_priors, prompt_len=512, gen_len=256, diffusion_cache="dual",
              tokens_per_forward=16)["diffusion_s"]
    assert one == pytest.approx(two, rel=1e-12)
