"""Memory breakdown and verdicts, against figures computed by hand."""

from __future__ import annotations


import numpy as np
import pytest

from estimator.core import pipeline
from estimator.core.architecture import model_arrays
from estimator.core.memory import memory_breakdown
from estimator.core.passes import WeightBytes
from estimator.core.units import GIB
from estimator.tests.core.conftest import (
    BF16, DEEPSEEK_V3, DIFFUSION_GEMMA, F16, GEMMA_3_27B, LLAMA_31_8B, Q8_0, TEST_GPU, TEST_MAC, frame,
)


def one(model, quant, device, priors, **workload):
    scen = pipeline.scenarios(frame(model), frame(quant), frame(device), **workload)
    return pipeline.estimate(scen, priors).iloc[0]


def test_it_holds_every_expert_of_diffusion_gemma_at_bf16(unit_priors):
    # 25.2e9 parameters x 2 bytes: all 128 experts resident, though 8 are active per token.
    out = one(DIFFUSION_GEMMA, BF16, TEST_GPU, unit_priors)
    assert out["mem_weights_bytes"] == pytest.approx(50.4e9, rel=1e-12)
    assert out["mem_weights_bytes"] > 3 * 15.9e9   # never the 15.9 GB some sites publish


def test_it_splits_weights_into_groups_that_add_up(unit_priors):
    out = one(DIFFUSION_GEMMA, BF16, TEST_GPU, unit_priors)
    # X = (25.2 - 3.8)e9 / (128 - 8); experts = 128 X; tied embeddings count once (V x d).
    experts = 128 * (25.2e9 - 3.8e9) / 120
    assert out["mem_weights_experts_bytes"] == pytest.approx(2 * experts)
    assert out["mem_weights_embedding_bytes"] == pytest.approx(2 * 262144 * 2816)
    assert (out["mem_weights_embedding_bytes"] + out["mem_weights_dense_bytes"] + out["mem_weights_experts_bytes"]
            == pytest.approx(out["mem_weights_bytes"]))


def test_it_sizes_llama_31_8b_kv_cache_at_8k_fp16(unit_priors):
    # 8192 tokens x 32 layers x (K and V) x 8 KV heads x 128 dims x 2 bytes = 1 GiB.
    out = one(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, context=8192)
    assert out["mem_kv_cache_bytes"] == 8192 * 32 * 2 * 8 * 128 * 2 == 1_073_741_824


@pytest.mark.parametrize("kv_dtype, bytes_per_elem", [("fp8", 1.0), ("q8_0", 34 / 32), ("q4_0", 18 / 32), ("fp32", 4.0)])
def test_it_quantizes_the_kv_cache(unit_priors, kv_dtype, bytes_per_elem):
    out = one(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, context=8192, kv_dtype=kv_dtype)
    assert out["mem_kv_cache_bytes"] == pytest.approx(8192 * 32 * 2 * 8 * 128 * bytes_per_elem)


def test_it_scales_the_kv_cache_with_batch(unit_priors):
    out = one(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, context=8192, batch=4)
    assert out["mem_kv_cache_bytes"] == 4 * 1_073_741_824


def test_it_caps_sliding_window_layers_at_their_window(unit_priors):
    # Gemma 3 27B: 52 local layers hold 1024 tokens, 10 global layers hold all 8192.
    out = one(GEMMA_3_27B, BF16, TEST_GPU, unit_priors, context=8192)
    per_token_layer = 2 * 16 * 128 * 2
    assert out["mem_kv_cache_bytes"] == (52 * 1024 + 10 * 8192) * per_token_layer


def test_it_uses_gemma4_global_layer_shapes(unit_priors):
    # 25 sliding layers: 8 KV heads x 256; 5 global layers: 2 KV heads x 512.
    out = one(DIFFUSION_GEMMA, BF16, TEST_GPU, unit_priors, context=8192)
    expected = (25 * 1024 * 2 * 8 * 256 + 5 * 8192 * 2 * 2 * 512) * 2
    assert out["mem_kv_cache_bytes"] == expected == 377_487_360


def test_it_stores_one_mla_latent_per_token_per_layer(unit_priors):
    # DeepSeek V3: (kv_lora_rank 512 + rope 64) per token per layer, not 2 x heads x dims.
    out = one(DEEPSEEK_V3, BF16, TEST_GPU, unit_priors, context=4096)
    assert out["mem_kv_cache_bytes"] == 61 * 4096 * (512 + 64) * 2


def test_it_holds_a_diffusion_blocks_logits_and_the_self_conditioning_buffer(unit_priors):
    # 256 x 262144 fp32 logits = 268 MB, plus DiffusionGemma's probabilities and soft embeddings.
    out = one(DIFFUSION_GEMMA, BF16, TEST_GPU, unit_priors)
    logits = 256 * 262144 * 4
    assert logits == 268_435_456
    assert out["mem_logits_bytes"] == logits + 256 * (262144 * 4 + 2816 * 2)


def test_it_adds_the_vision_encoder_only_with_image_input(unit_priors):
    text_only = one(DIFFUSION_GEMMA, BF16, TEST_GPU, unit_priors)
    with_image = one(DIFFUSION_GEMMA, BF16, TEST_GPU, unit_priors, image_input=True)
    assert text_only["mem_vision_bytes"] == 0
    assert with_image["mem_vision_bytes"] == pytest.approx(0.55e9 * 2)
    assert with_image["mem_total_bytes"] - text_only["mem_total_bytes"] == pytest.approx(0.55e9 * 2)


def test_it_gives_apple_gpus_their_share_of_unified_memory(unit_priors):
    out = one(LLAMA_31_8B, BF16, TEST_MAC, unit_priors)
    assert out["mem_usable_bytes"] == 0.75 * 64 * GIB


def test_it_counts_the_runtime_overhead_per_device_kind(unit_priors):
    overhead = unit_priors["constants"]["memory_overhead_gb"]
    assert one(LLAMA_31_8B, BF16, TEST_GPU, unit_priors)["mem_overhead_bytes"] == overhead["gpu"] * GIB
    assert one(LLAMA_31_8B, BF16, TEST_MAC, unit_priors)["mem_overhead_bytes"] == overhead["apple"] * GIB


def test_it_says_fits_when_everything_fits(unit_priors):
    out = one(LLAMA_31_8B, BF16, TEST_GPU, unit_priors)
    assert out["verdict"] == "fits"
    assert out["layers_on_device"] == 32
    assert out["mem_total_bytes"] < out["mem_usable_bytes"]


DENSE_120GB = dict(LLAMA_31_8B, slug="dense-60b", name="Dense 60B", total_params_b=60.0, n_layers=60,
                   hidden_size=8192, n_heads=64, vocab_size=32000)
DENSE_300GB = dict(LLAMA_31_8B, slug="dense-150b", name="Dense 150B", total_params_b=150.0, n_layers=100,
                   hidden_size=8192, n_heads=64, vocab_size=32000)


def test_it_offloads_layers_that_do_not_fit_and_says_how_many_stay(unit_priors):
    out = one(DENSE_120GB, BF16, TEST_GPU, unit_priors)
    assert out["verdict"] == "offload"
    # Stays on the device: embeddings 2 x 32000 x 8192 x 2 B = 1,048,576,000; activations of a
    # 2048-token vLLM chunk 2048 x (4 x 8192 + 2 x 14336) x 2 B = 251,658,240; logits 32000 x 4 B
    # = 128,000; overhead 0.75 GiB = 805,306,368; in all 2,105,668,608 B.
    # Per layer: (dense weights (60e9 - 524,288,000) x 2 B + KV 4096 x 60 x 2 x 8 x 128 x 2 B) / 60
    #          = (118,951,424,000 + 1,006,632,960) / 60 = 1,999,300,949.3 B.
    # (100 GiB - 2,105,668,608) / 1,999,300,949.3 = 105,268,513,792 / 1,999,300,949.3 = 52.65 -> 52.
    assert out["mem_weights_embedding_bytes"] + out["mem_activations_bytes"] == 1_048_576_000 + 251_658_240
    assert out["layers_on_device"] == 52
    assert out["grade"] == "C"


def test_an_offloaded_configuration_is_reported_at_batch_one_at_most(unit_priors):
    out = one(LLAMA_31_8B, BF16, TEST_GPU, unit_priors, context=131072, batch=8)
    # Eight sequences of 131072 tokens hold 8 x 16 GiB of KV: offload. One sequence alone would
    # leave room for five ((100 GiB - 16 GB of weights - 0.75 GiB) / 16 GiB = 5.2), but a
    # configuration that offloads layers is reported at batch 1.
    assert out["verdict"] == "offload"
    assert out["max_batch"] == 1


def test_offloaded_layers_compute_at_the_hosts_flops(unit_priors):
    out = one(DENSE_120GB, BF16, TEST_GPU, unit_priors, host_tflops=2.0)
    # A 3840-token prompt in two vLLM chunks of 1920 (mean 960 cached before each):
    #   dense GEMMs 2 x 1920 x (60e9 - 2 x 262,144,000)      = 228,386,734,080,000
    #   LM head     2 x 0.5 rows x 32000 x 8192               =         262,144,000
    #   attention   1920 x 60 layers x 1920.5 keys x 4 x 64 x 128 = 7,249,644,748,800
    #   per chunk 235,636,640,972,800; both 471,273,281,945,600 FLOP.
    # 52/60 of it on the device at 100 TFLOP/s: 4.084368443528533 s; 8/60 on the host at
    # 2 TFLOP/s x eff_c 0.5: 62.83643759274667 s (its memory term, 120 GB x 8/60 / 36 GB/s, is 0.45 s).
    assert out["prefill_flops"] == 471_273_281_945_600
    assert out["prefill_s"] == pytest.approx(4.084368443528533 + 62.83643759274667, rel=1e-12)


def test_it_runs_offloaded_layers_at_host_memory_bandwidth(unit_priors):
    out = one(DENSE_120GB, BF16, TEST_GPU, unit_priors, host_memory_bandwidth_gbs=50.0)
    # 52 of 60 layers on the device (test above). One batch-1 decode pass after the 3840-token prompt reads
    #   weights  (60e9 - 32000 x 8192 input embedding) x 2 B           = 119,475,712,000 B
    #   KV       3841 tokens x 60 layers x 2 x 8 heads x 128 x 2 B      =     943,964,160 B
    #   logits   32000 x 4 B, written and read                          =         256,000 B
    # Layers (weights and KV) split 52/60 device, 8/60 host at 50 GB/s x eff_m 0.6 = 30 GB/s;
    # the logits stay on the device with the memory that holds them:
    #   device (120,419,676,160 x 52/60 + 256,000) / 1e12 = 0.104363975338667 s
    #   host    120,419,676,160 x 8/60 / 30e9              = 0.535198560711111 s
    assert out["decode_pass_s"] == pytest.approx(0.104363975338667 + 0.535198560711111, rel=1e-12)
    assert out["decode_bound"] == "memory"
    fits_on_two = one(DENSE_120GB, BF16, TEST_GPU, unit_priors, n_devices=2, parallel="tensor")
    assert out["decode_tok_s"] < 0.3 * fits_on_two["decode_tok_s"]


def test_it_says_how_many_devices_a_model_needs(unit_priors):
    out = one(DENSE_300GB, BF16, TEST_GPU, unit_priors)
    # 300 GB of weights: 2 x 100 GiB is not enough, 4 is.
    assert out["verdict"] == "multi_device"
    assert out["devices_needed"] == 4
    assert out["n_devices"] == 4 and out["parallel"] == "tensor"


def test_it_says_no_fit_when_nothing_works(unit_priors):
    huge = dict(DENSE_300GB, slug="huge", name="Huge", total_params_b=1000.0)
    out = one(huge, BF16, TEST_MAC, unit_priors)   # unified memory: no offload, no multi-device
    assert out["verdict"] == "no_fit"
    assert out["grade"] == "F"
    assert np.isnan(out["decode_tok_s"])


def test_it_says_unknown_without_a_memory_size(unit_priors):
    configurable = dict(TEST_MAC, slug="mac-bin", name="Mac bin", memory_gb=None)
    out = one(LLAMA_31_8B, BF16, configurable, unit_priors)
    assert out["verdict"] == "unknown"
    assert out["grade"] == "?"


def test_it_finds_the_largest_batch_that_fits(unit_priors):
    out = one(LLAMA_31_8B, F16, TEST_GPU, unit_priors, context=8192)
    # Weights (16 GB) and overhead once; each sequence adds 1 GiB of KV plus small buffers.
    assert 80 <= out["max_batch"] <= 92
    # Decoding right after a 7936-token prompt, every sequence also READS its ~1 GiB of KV per
    # step (7936 cached + the new token): the batch pays for it.
    b = out["max_batch"]
    step_bytes = out["mem_weights_bytes"] - 128256 * 4096 * 2 + b * 7937 * 131072
    assert out["max_batch_tok_s"] == pytest.approx(b / (step_bytes / 1e12), rel=0.01)


def test_it_marks_unsupported_formats(unit_priors):
    gptq = dict(Q8_0, slug="gptq", name="GPTQ int4", family="gptq", native_device_kinds=["gpu"])
    out = one(LLAMA_31_8B, gptq, TEST_MAC, unit_priors)
    assert out["verdict"] == "unsupported" and out["grade"] == "F"


def test_it_caches_one_tensor_on_global_layers_that_share_k_and_v(unit_priors):
    # Gemma 4's global layers use V = K (attention_k_eq_v): 5 global layers x 2 heads x 512, once.
    out = one({**DIFFUSION_GEMMA, "global_kv_shared": True}, BF16, TEST_GPU, unit_priors, context=8192)
    expected = (25 * 1024 * 2 * 8 * 256 + 5 * 8192 * 1 * 2 * 512) * 2
    assert out["mem_kv_cache_bytes"] == expected == 293_601_280


LLADA = dict(LLAMA_31_8B, slug="llada", name="LLaDA-like", generation_mode="block_diffusion",
             diffusion_attention="full", n_kv_heads=32, block_size=32, tokens_per_forward=3.0)


@pytest.mark.parametrize("cache", ["none", "prefix", "dual"])
def test_it_holds_the_logits_of_a_full_attention_models_full_forward_whatever_the_cache(unit_priors, cache):
    # Family A (LLaDA): even with a prefix or dual cache, each block starts with a FULL forward over
    # prompt + canvas that projects every row (Fast-dLLM's refresh): 512 + 256 rows x vocab x fp32,
    # not one block's 32 rows.
    out = one(LLADA, BF16, TEST_GPU, unit_priors, prompt_len=512, gen_len=256, context=768, diffusion_cache=cache)
    assert out["mem_logits_bytes"] == 768 * 128256 * 4
    # Activations of that pass: 768 tokens x (4 x hidden + 2 x FFN width) x 2 bytes.
    assert out["mem_activations_bytes"] == 768 * (4 * 4096 + 2 * 14336) * 2


def test_it_sizes_the_self_conditioning_buffer_for_the_block_actually_decoded(unit_priors):
    # DiffusionGemma run with 64-token blocks: logits and the self-conditioning buffer both hold 64 rows.
    out = one(DIFFUSION_GEMMA, BF16, TEST_GPU, unit_priors, block_size=64)
    assert out["mem_logits_bytes"] == 64 * 262144 * 4 + 64 * (262144 * 4 + 2816 * 2)


def test_it_gives_no_speed_and_no_times_when_the_model_cannot_run(unit_priors):
    # DeepSeek V3 at BF16 (1.3 TB) on a 64 GB Mac: no_fit, so no tokens/s and no seconds either.
    out = one(DEEPSEEK_V3, BF16, TEST_MAC, unit_priors, prompt_len=512)
    assert out["verdict"] == "no_fit"
    for column in ("decode_tok_s", "prefill_tok_s", "gen_tok_s", "ttft_s", "prefill_s", "decode_pass_s"):
        assert np.isnan(out[column]), column
    dif = one(DIFFUSION_GEMMA, BF16, dict(TEST_MAC, memory_gb=16.0), unit_priors)
    assert dif["verdict"] == "no_fit"
    assert np.isnan(dif["diffusion_s"]) and np.isnan(dif["diffusion_tok_s"]) and np.isnan(dif["ttft_s"])


def test_it_holds_no_kv_cache_for_full_attention_diffusion_without_a_cache(unit_priors):
    # Vanilla LLaDA recomputes prompt + canvas every step: no KV cache. A dual cache keeps the
    # K/V of all 768 positions: 768 x 32 layers x (K, V) x 32 heads x 128 x 2 bytes.
    none = one(LLADA, BF16, TEST_GPU, unit_priors, prompt_len=512, gen_len=256, context=768, diffusion_cache="none")
    dual = one(LLADA, BF16, TEST_GPU, unit_priors, prompt_len=512, gen_len=256, context=768, diffusion_cache="dual")
    assert none["mem_kv_cache_bytes"] == 0
    assert dual["mem_kv_cache_bytes"] == 768 * 32 * 2 * 32 * 128 * 2
    assert none["mem_total_bytes"] == pytest.approx(dual["mem_total_bytes"] - dual["mem_kv_cache_bytes"])



def test_it_sizes_the_experts_and_the_other_tensors_at_their_own_widths():
    # Diffusion Gemma's 128 experts hold 128 x (25.2e9 - 3.8e9) / 120 = 22.827e9 weights, the other
    # 25.2e9 - 22.827e9 = 2.373e9. MXFP4 experts (0.53125 B) + Q8_0 elsewhere (1.0625 B):
    # 22.827e9 x 0.53125 + 2.373e9 x 1.0625 = 12.127e9 + 2.522e9 = 14.649e9 B.
    m = model_arrays(frame(DIFFUSION_GEMMA))
    experts = 128 * (25.2e9 - 3.8e9) / 120
    width = WeightBytes(experts=np.array([0.53125]), other=np.array([1.0625]))
    need = memory_breakdown(m, width, np.array([2.0]), batch=np.array([1.0]), context=np.array([0.0]),
                            pass_tokens=np.array([1.0]), logits_rows=np.array([1.0]), overhead=np.array([0.0]))
    assert need.weights_experts[0] == pytest.approx(experts * 0.53125)
    assert need.weights_floor[0] == pytest.approx(experts * 0.53125 + (25.2e9 - experts) * 1.0625)
    assert need.weights_floor[0] == pytest.approx(14.649e9, rel=1e-4)
