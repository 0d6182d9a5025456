"""One forward pass: expert coverage, bytes and FLOPs, and decode on a bandwidth-bound device."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from estimator.core import pipeline
from estimator.core.architecture import model_arrays
from estimator.core.hardware import quant_arrays
from estimator.core.passes import WeightBytes, expert_coverage, pass_cost
from estimator.tests.core.conftest import BF16, DIFFUSION_GEMMA, LLAMA_31_8B, TEST_GPU, frame


def test_it_reads_6_25_percent_of_128_experts_at_one_token():
    assert expert_coverage(128, 8, 1) == pytest.approx(8.0)
    assert expert_coverage(128, 8, 1) / 128 == pytest.approx(0.0625)


def test_it_reads_almost_every_expert_for_a_256_token_step():
    # 128 * (1 - (120/128)^256): 1 - 6.6e-8 of the experts.
    assert expert_coverage(128, 8, 256) / 128 == pytest.approx(1 - (120 / 128) ** 256)
    assert expert_coverage(128, 8, 256) / 128 > 0.9999


def test_it_matches_the_coverage_table_of_diffusion_md():
    # docs/diffusion.md §2.3: (64, 8) at T=4, 8, 16: 41%, 66%, 88%; (256, 8) at 32: 64%.
    assert expert_coverage(64, 8, np.array([4, 8, 16])) / 64 == pytest.approx([0.41, 0.66, 0.88], abs=0.006)
    assert expert_coverage(256, 8, 32) / 256 == pytest.approx(0.64, abs=0.006)


def test_it_touches_no_experts_in_a_dense_model():
    assert expert_coverage(0, 0, 256) == 0


def test_it_skips_the_untied_input_embedding_and_reads_the_lm_head():
    m = model_arrays(frame(LLAMA_31_8B))
    cost = pass_cost(m, np.array([2.0]), 2.0, tokens=1.0, batch=1.0, cached=0.0, causal=True, logits_rows=1.0)
    embedding = 128256 * 4096
    assert cost.weight_bytes[0] == pytest.approx((8e9 - embedding) * 2)
    # Matmul FLOPs exclude both embedding matrices; the LM head projects one row.
    assert cost.flops[0] == pytest.approx(2 * (8e9 - 2 * embedding) + 2 * embedding)


def test_it_counts_attention_over_cached_keys():
    m = model_arrays(frame(LLAMA_31_8B))
    cost = pass_cost(m, np.array([2.0]), 2.0, tokens=1.0, batch=1.0, cached=4095.0, causal=True, logits_rows=1.0)
    # 4 FLOP per (query, key, head dim) per layer: QK^T and PV; one query over 4096 keys.
    assert cost.attn_flops[0] == pytest.approx(4 * 32 * 128 * 32 * 4096)
    assert cost.kv_bytes[0] == 4096 * 32 * 2 * 8 * 128 * 2


def test_it_reads_only_the_experts_a_batch_touches():
    m = model_arrays(frame(DIFFUSION_GEMMA))
    x = (25.2e9 - 3.8e9) / 120
    one = pass_cost(m, np.array([2.0]), 2.0, tokens=1.0, batch=1.0, cached=0.0, causal=True, logits_rows=1.0)
    block = pass_cost(m, np.array([2.0]), 2.0, tokens=256.0, batch=1.0, cached=0.0, causal=False, logits_rows=256.0)
    dense = 25.2e9 - 128 * x
    assert one.weight_bytes[0] == pytest.approx((dense + 8 * x) * 2)           # tied: embedding read as LM head
    assert block.weight_bytes[0] == pytest.approx((dense + expert_coverage(128, 8, 256) * x) * 2)


def test_it_decodes_at_the_speed_of_bytes_over_bandwidth(unit_priors):
    # Llama 3.1 8B, BF16, first token: (8e9 - 128256*4096) weights x 2 B + 1 token of KV + the
    # fp32 logits written and read; 1 TB/s; compute (on the 10 TFLOP/s vector ALUs) is smaller.
    scen = pipeline.scenarios(frame(LLAMA_31_8B), frame(BF16), frame(TEST_GPU), decode_context=0)
    out = pipeline.estimate(scen, unit_priors).iloc[0]
    bytes_ = (8e9 - 128256 * 4096) * 2 + 32 * 2 * 8 * 128 * 2 + 128256 * 4 * 2
    assert out["decode_pass_s"] == pytest.approx(bytes_ / 1e12, rel=1e-9)
    assert out["decode_tok_s"] == pytest.approx(1e12 / bytes_, rel=1e-9)
    assert out["decode_bound"] == "memory"


def test_it_decodes_moe_models_at_the_speed_of_active_parameters(unit_priors):
    # Same 3.8B active, twice the experts (total 46.6B): a bandwidth-bound decode does not care.
    bigger = dict(DIFFUSION_GEMMA, generation_mode="autoregressive", diffusion_attention="", n_experts=256,
                  total_params_b=3.8 + (25.2 - 3.8) / 120 * 248)
    ar = dict(DIFFUSION_GEMMA, generation_mode="autoregressive", diffusion_attention="")
    scen = pipeline.scenarios(frame(ar, bigger), frame(BF16), frame(dict(TEST_GPU, memory_gb=1000.0)), decode_context=0)
    out = pipeline.estimate(scen, unit_priors)
    assert out["mem_weights_bytes"].iloc[1] > 1.8 * out["mem_weights_bytes"].iloc[0]
    assert out["decode_tok_s"].iloc[1] == pytest.approx(out["decode_tok_s"].iloc[0], rel=1e-9)
    # ... and about total/active times faster than reading every weight would allow.
    assert out["decode_tok_s"].iloc[0] > 5 * 1e12 / out["mem_weights_bytes"].iloc[0]


def test_it_does_not_read_the_lm_head_in_a_pass_that_projects_no_logits():
    # A diffusion commit writes the clean block's KV and projects no logits (FLOPs: no LM head),
    # so its bytes hold neither embedding matrix: Llama untied, 8e9 - 2 x 128256 x 4096.
    m = model_arrays(frame(LLAMA_31_8B))
    embedding = 128256 * 4096
    commit = pass_cost(m, np.array([2.0]), 2.0, tokens=32.0, batch=1.0, cached=512.0, causal=False, logits_rows=0.0)
    assert commit.weight_bytes[0] == pytest.approx((8e9 - 2 * embedding) * 2)
    assert commit.flops[0] == pytest.approx(2 * 32 * (8e9 - 2 * embedding))
    # DiffusionGemma (tied): the commit reads no V x d matrix; a self-conditioned step reads it once.
    g = model_arrays(frame(DIFFUSION_GEMMA))
    x = (25.2e9 - 3.8e9) / 120
    head = 262144 * 2816
    touched = expert_coverage(128, 8, 256)
    g_commit = pass_cost(g, np.array([2.0]), 2.0, tokens=256.0, batch=1.0, cached=512.0, causal=False, logits_rows=0.0)
    g_step = pass_cost(g, np.array([2.0]), 2.0, tokens=256.0, batch=1.0, cached=512.0, causal=False,
                       logits_rows=256.0, self_conditioning=True)
    assert g_commit.weight_bytes[0] == pytest.approx((25.2e9 - 128 * x - head + touched * x) * 2)
    assert g_step.weight_bytes[0] == pytest.approx((25.2e9 - 128 * x + touched * x) * 2)


def test_it_reads_the_experts_and_the_other_tensors_at_their_own_widths():
    # An MXFP4 MoE GGUF: experts at 4.25 bits (0.53125 B), everything else at Q8_0's 8.5 (1.0625 B).
    m = model_arrays(frame(DIFFUSION_GEMMA))
    x = (25.2e9 - 3.8e9) / 120
    dense = 25.2e9 - 128 * x
    width = WeightBytes(experts=np.array([0.53125]), other=np.array([1.0625]))
    one = pass_cost(m, width, 2.0, tokens=1.0, batch=1.0, cached=0.0, causal=True, logits_rows=1.0)
    assert one.weight_bytes[0] == pytest.approx(dense * 1.0625 + 8 * x * 0.53125)
    assert one.weights[0] == pytest.approx(dense + 8 * x)


def test_it_gives_llama_cpp_mxfp4_moe_files_q8_0_outside_the_experts():
    quants = quant_arrays(pd.DataFrame({"quant_name": ["MXFP4 (GGUF)", "Q4_K_M"], "bits_per_weight": [4.25, 4.8944],
                                        "compute_dtype": ["fp16", "fp16"], "quant_family": ["GGUF", "GGUF k-quant mix"]}))
    assert quants.weight_bytes.experts.tolist() == pytest.approx([4.25 / 8, 4.8944 / 8])
    assert quants.weight_bytes.other.tolist() == pytest.approx([8.5 / 8, 4.8944 / 8])


def test_it_counts_the_score_matrices_of_unfused_attention_only():
    m = model_arrays(frame(LLAMA_31_8B))
    kwargs = dict(tokens=512.0, batch=1.0, cached=3584.0, causal=True, logits_rows=1.0)
    unfused = pass_cost(m, np.array([2.0]), 2.0, fused_attention=False, **kwargs)
    fused = pass_cost(m, np.array([2.0]), 2.0, **kwargs)
    # 512 queries x (3584 + 513/2) keys x 32 heads x 32 layers, 16 bytes each (f32 written, softmax
    # read + written, read by KQV); a fused kernel keeps them on chip.
    assert unfused.score_bytes[0] == pytest.approx(512 * (3584 + 256.5) * 32 * 32 * 16)
    assert fused.score_bytes[0] == 0
    assert unfused.bytes[0] == fused.bytes[0]     # not weight/KV traffic: timed on its own
