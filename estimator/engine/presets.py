"""Named architectures the engine can build without a catalog row (pure Python, no torch).

Field names are the catalog's (`estimator.core.schema.MODEL_COLUMNS`); values of the full-size
models are the ones in `fixtures/sources/models.csv` (sources there). The `tiny-*` presets are
made-up miniatures for fast CPU tests, each exercising the same code paths as a real family.
"""

from __future__ import annotations

from typing import Any

_GEMMA4_26B_A4B: dict[str, Any] = {
    # Gemma 4 26B-A4B text stack: 30 layers = 25 sliding (1024) + 5 global (5, 11, 17, 23, 29);
    # sliding layers 8 KV heads x 256, global layers 2 KV heads x 512; 128 experts x 704, top-8,
    # beside a dense MLP of 2112; tied embeddings; vocab 262,144.
    "n_layers": 30,
    "hidden_size": 2816,
    "n_heads": 16,
    "n_kv_heads": 8,
    "head_dim": 256,
    "global_kv_heads": 2,
    "global_head_dim": 512,
    "intermediate_size": 2112,
    "moe_intermediate_size": 704,
    "n_experts": 128,
    "n_experts_active": 8,
    "n_shared_experts": None,
    "parallel_mlp_size": 2112,
    "vocab_size": 262_144,
    "tied_embeddings": True,
    "max_context": 262_144,
    "sliding_window": 1024,
    "n_global_layers": 5,
    "rope_theta": 10_000.0,
    "rope_theta_global": 1_000_000.0,
    "total_params_b": 25.2,
    "active_params_b": 3.8,
}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny-dense": {
        "slug": "tiny-dense", "name": "Tiny dense (test)", "generation_mode": "autoregressive",
        "n_layers": 2, "hidden_size": 64, "n_heads": 4, "n_kv_heads": 2, "head_dim": 16,
        "intermediate_size": 128, "vocab_size": 512, "block_size": 8,
    },
    "tiny-moe": {
        "slug": "tiny-moe", "name": "Tiny MoE (test)", "generation_mode": "block_diffusion",
        "diffusion_attention": "block_causal",
        "n_layers": 2, "hidden_size": 64, "n_heads": 4, "n_kv_heads": 2, "head_dim": 16,
        "intermediate_size": 128, "moe_intermediate_size": 32, "n_experts": 8, "n_experts_active": 2,
        "n_shared_experts": 1, "vocab_size": 512, "block_size": 8,
    },
    "tiny-dgemma": {
        # DiffusionGemma in miniature: sliding + global layers with different KV shapes, a dense
        # MLP beside the experts, self-conditioning, a canvas of 16.
        "slug": "tiny-dgemma", "name": "Tiny DiffusionGemma-shaped (test)",
        "generation_mode": "block_diffusion", "diffusion_attention": "block_causal",
        "n_layers": 4, "hidden_size": 64, "n_heads": 4, "n_kv_heads": 2, "head_dim": 16,
        "global_kv_heads": 1, "global_head_dim": 32, "intermediate_size": 48,
        "moe_intermediate_size": 32, "n_experts": 8, "n_experts_active": 2, "parallel_mlp_size": 48,
        "vocab_size": 512, "tied_embeddings": True, "sliding_window": 24, "n_global_layers": 1,
        "block_size": 16, "self_conditioning": True,
    },
    "tiny-llada": {
        "slug": "tiny-llada", "name": "Tiny full-attention masked diffusion (test)",
        "generation_mode": "block_diffusion", "diffusion_attention": "full",
        "n_layers": 2, "hidden_size": 64, "n_heads": 4, "n_kv_heads": 4, "head_dim": 16,
        "intermediate_size": 128, "vocab_size": 512, "block_size": 8,
    },
    "diffusiongemma-26b-a4b": {
        **_GEMMA4_26B_A4B,
        "slug": "diffusiongemma-26b-a4b", "name": "DiffusionGemma 26B-A4B",
        "generation_mode": "block_diffusion", "diffusion_attention": "block_causal",
        "block_size": 256, "self_conditioning": True, "tokens_per_forward": 15.0,
    },
    "gemma-4-26b-a4b": {
        **_GEMMA4_26B_A4B,
        "slug": "gemma-4-26b-a4b", "name": "Gemma 4 26B-A4B", "generation_mode": "autoregressive",
    },
    "qwen3-30b-a3b": {
        "slug": "qwen3-30b-a3b", "name": "Qwen3 30B-A3B", "generation_mode": "autoregressive",
        "n_layers": 48, "hidden_size": 2048, "n_heads": 32, "n_kv_heads": 4, "head_dim": 128,
        "intermediate_size": 6144, "moe_intermediate_size": 768, "n_experts": 128,
        "n_experts_active": 8, "n_shared_experts": 0, "parallel_mlp_size": 0, "vocab_size": 151_936,
        "max_context": 40_960, "rope_theta": 1_000_000.0, "total_params_b": 30.5, "active_params_b": 3.3,
    },
    "sdar-30b-a3b": {
        # SDAR continues Qwen3-30B-A3B; the catalog copies Qwen3's shape (vocab from Qwen3 too).
        "slug": "sdar-30b-a3b", "name": "SDAR-30B-A3B-Chat", "generation_mode": "block_diffusion",
        "diffusion_attention": "block_causal",
        "n_layers": 48, "hidden_size": 2048, "n_heads": 32, "n_kv_heads": 4, "head_dim": 128,
        "moe_intermediate_size": 768, "n_experts": 128, "n_experts_active": 8, "parallel_mlp_size": 0,
        "vocab_size": 151_936, "block_size": 4, "rope_theta": 1_000_000.0,
    },
    "llada2-mini": {
        "slug": "llada2-mini", "name": "LLaDA2.0-mini", "generation_mode": "block_diffusion",
        "diffusion_attention": "block_causal",
        "n_layers": 20, "hidden_size": 2048, "n_heads": 16, "n_kv_heads": 4, "head_dim": 128,
        "intermediate_size": 5120, "moe_intermediate_size": 512, "n_experts": 256, "n_experts_active": 8,
        "n_shared_experts": 1, "n_dense_layers": 1, "vocab_size": 157_184, "max_context": 32_768,
        "block_size": 32, "total_params_b": 16.0, "active_params_b": 1.4,
    },
    "llada-8b": {
        "slug": "llada-8b", "name": "LLaDA 8B Instruct", "generation_mode": "block_diffusion",
        "diffusion_attention": "full",
        "n_layers": 32, "hidden_size": 4096, "n_heads": 32, "n_kv_heads": 32, "head_dim": 128,
        "intermediate_size": 12_288, "vocab_size": 126_464, "max_context": 4096, "block_size": 32,
        "rope_theta": 500_000.0, "total_params_b": 8.0,
    },
}


def preset_names() -> list[str]:
    """Names accepted by `get_preset` and the command line's `--preset`."""
    return sorted(PRESETS)


def get_preset(name: str) -> dict[str, Any]:
    """A copy of the named architecture mapping; KeyError lists the names on offer."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(preset_names())}") from None
