"""The columns the estimator core reads, in catalog units.

This is the contract between the Django catalog and the pure core: the catalog models
(`models_catalog.ModelArchitecture`, `models_catalog.QuantizationFormat`, `devices.Device`,
`models_catalog.Runtime`) use exactly these field names, the REST API returns them, and an
inline object in an estimate request uses them too. The core converts to SI units (bytes,
FLOP, seconds) itself. A missing value is None/NaN, never 0: the core derives what it can by a
documented rule (e.g. head_dim = hidden_size / n_heads) and says so in its output.
"""

from __future__ import annotations

# --- Model architecture -----------------------------------------------------------------------
GENERATION_MODES = ("autoregressive", "block_diffusion")
# Block-diffusion families (docs/diffusion.md §1.0): A = full-attention masked diffusion (LLaDA, Dream)
# with approximate, refreshed caches; B = block-causal (SDAR, LLaDA2, DiffusionGemma) with an
# exact prefix cache and one commit forward per block.
DIFFUSION_ATTENTION = ("block_causal", "full")

MODEL_COLUMNS: dict[str, str] = {
    "slug": "str",
    "name": "str",
    "generation_mode": "str",            # one of GENERATION_MODES
    "diffusion_attention": "str",        # one of DIFFUSION_ATTENTION, "" for autoregressive
    "total_params_b": "float",           # billions, every expert counted (all resident)
    "active_params_b": "float",          # billions per token; None for dense = total
    "embedding_params_b": "float",       # input embedding (+ LM head if untied); None = vocab*hidden
    "tied_embeddings": "bool",
    "vision_params_b": "float",          # vision encoder, None when the model has none
    "n_layers": "int",
    "hidden_size": "int",
    "n_heads": "int",
    "n_kv_heads": "int",                 # KV heads of local/regular layers
    "head_dim": "int",                   # None = hidden_size / n_heads
    "intermediate_size": "int",          # dense FFN width (or the dense/shared MLP of a MoE layer)
    "moe_intermediate_size": "int",      # width of one routed expert
    "n_experts": "int",                  # routed experts per MoE layer; None/0 = dense model
    "n_experts_active": "int",           # top-k
    "n_shared_experts": "int",
    "n_dense_layers": "int",             # leading dense layers of a MoE model (DeepSeek: 3)
    "vocab_size": "int",
    "max_context": "int",
    "sliding_window": "int",             # None = no sliding-window layers
    "n_global_layers": "int",            # full-attention layers when sliding_window is set
    "global_kv_heads": "int",            # KV heads of global layers when they differ (Gemma 4)
    "global_head_dim": "int",            # head dim of global layers when it differs (Gemma 4)
    "global_kv_shared": "bool",          # global layers cache one tensor for K and V (attention_k_eq_v)
    "kv_lora_rank": "int",               # MLA latent size (DeepSeek); None = plain GQA cache
    "qk_rope_head_dim": "int",           # MLA decoupled RoPE key dim
    "block_size": "int",                 # diffusion block / canvas size
    "tokens_per_forward": "float",       # default tokens committed per denoising forward
    "self_conditioning": "bool",         # DiffusionGemma's self-conditioning soft-embedding GEMM
}

# --- Quantization format ----------------------------------------------------------------------
# The dtype the kernels compute in, where the device supports it natively; otherwise the core
# falls back to fp16/bf16 after dequantisation.
COMPUTE_DTYPES = ("fp32", "fp16", "bf16", "fp8", "int8", "fp4")

QUANT_COLUMNS: dict[str, str] = {
    "slug": "str",
    "name": "str",
    "family": "str",                     # gguf, gptq, awq, fp8, nvfp4, mxfp4, bitsandbytes, full
    "bits_per_weight": "float",          # effective, scales included
    "compute_dtype": "str",              # one of COMPUTE_DTYPES
    "quality_tier": "str",               # reference / near-lossless / good / fair / poor / unknown
    "ppl_delta": "float",                # published perplexity delta, None when not published
}

# --- Device -------------------------------------------------------------------------------------
DEVICE_KINDS = ("gpu", "apple", "tpu", "cpu", "npu")

DEVICE_COLUMNS: dict[str, str] = {
    "slug": "str",
    "name": "str",
    "vendor": "str",
    "kind": "str",                       # one of DEVICE_KINDS
    "memory_gb": "float",
    "memory_bandwidth_gbs": "float",
    "fp32_tflops": "float",              # dense peaks; None = not published
    "fp16_tflops": "float",
    "bf16_tflops": "float",
    "fp8_tflops": "float",
    "int8_tops": "float",
    "shader_fp16_tflops": "float",       # non-tensor FP16 rate (TechPowerUp); a floor when no tensor peak is published
    "fp4_tflops": "float",
    "tdp_w": "float",
    "usable_memory_fraction": "float",   # share of memory_gb a model may use (Apple: GPU share)
    "interconnect_gbs": "float",         # device-to-device link, GB/s per direction; None = PCIe
    "host_bandwidth_gbs": "float",       # host link for offload (PCIe), GB/s
    "compute_units": "float",            # SMs / CUs / Xe cores; x boost clock = the issue rate
    "boost_clock_mhz": "float",
}

# --- Runtime ------------------------------------------------------------------------------------
RUNTIME_SLUGS = ("llama-cpp", "vllm", "sglang", "hf-transformers", "mlc-llm", "exllama", "reference")
