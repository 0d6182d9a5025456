"""Architecture resolution, layer patterns, parameter counts and scaling (pure Python, no torch)."""

from __future__ import annotations

import math

import pytest

from estimator.core.schema import MODEL_COLUMNS
from estimator.engine.arch import ENGINE_KEYS, count_params, resolve_architecture, scale_architecture
from estimator.engine.presets import PRESETS, get_preset


def test_presets_use_only_catalog_field_names():
    allowed = set(MODEL_COLUMNS) | set(ENGINE_KEYS)
    for name, preset in PRESETS.items():
        assert set(preset) <= allowed, (name, set(preset) - allowed)


def test_the_diffusiongemma_preset_has_the_published_shape_and_size():
    arch = resolve_architecture(get_preset("diffusiongemma-26b-a4b"))
    types = arch.layer_types()
    assert arch.n_layers == 30 and types.count("sliding") == 25
    assert [i for i, t in enumerate(types) if t == "global"] == [5, 11, 17, 23, 29]
    assert arch.attention_shape("sliding") == (8, 256) and arch.attention_shape("global") == (2, 512)
    assert (arch.n_experts, arch.n_experts_active, arch.moe_intermediate_size) == (128, 8, 704)
    assert arch.parallel_mlp_size == 2112 and arch.block_size == 256 and arch.self_conditioning
    params = count_params(arch)
    assert params["total"] / 1e9 == pytest.approx(25.2, rel=0.01)
    assert params["active"] / 1e9 == pytest.approx(3.8, rel=0.02)
    ar = resolve_architecture(get_preset("gemma-4-26b-a4b"))
    assert ar.generation_mode == "autoregressive" and not ar.self_conditioning
    assert count_params(arch)["total"] - count_params(ar)["total"] == count_params(arch)["self_conditioning"]


@pytest.mark.parametrize("name,total_b", [("qwen3-30b-a3b", 30.5), ("llada-8b", 8.0), ("llada2-mini", 16.0)])
def test_parameter_counts_match_the_catalog(name, total_b):
    assert count_params(resolve_architecture(get_preset(name)))["total"] / 1e9 == pytest.approx(total_b, rel=0.02)


def test_layer_patterns_follow_the_gemma_families():
    gemma3 = resolve_architecture({"n_layers": 62, "hidden_size": 64, "n_heads": 4, "vocab_size": 64,
                                   "intermediate_size": 64, "sliding_window": 1024, "n_global_layers": 10})
    globals_ = [i for i, t in enumerate(gemma3.layer_types()) if t == "global"]
    assert globals_ == list(range(5, 60, 6))  # 10 x [5 local + 1 global] + 2 local
    gemma2 = resolve_architecture({"n_layers": 42, "hidden_size": 64, "n_heads": 4, "vocab_size": 64,
                                   "intermediate_size": 64, "sliding_window": 4096, "n_global_layers": 21})
    assert gemma2.layer_types()[:4] == ["sliding", "global", "sliding", "global"]


def test_it_derives_missing_values_and_says_so():
    arch = resolve_architecture({"n_layers": 2, "hidden_size": 64, "n_heads": 8, "vocab_size": 100,
                                 "intermediate_size": 128, "head_dim": float("nan"), "n_kv_heads": None})
    assert arch.head_dim == 8 and arch.n_kv_heads == 8
    assert any("head_dim" in note for note in arch.derived) and any("n_kv_heads" in note for note in arch.derived)


def test_it_reads_intermediate_size_by_the_stated_active_parameters():
    gemma = dict(get_preset("gemma-4-26b-a4b"))
    del gemma["parallel_mlp_size"]
    assert resolve_architecture(gemma).parallel_mlp_size == 2112
    qwen = dict(get_preset("qwen3-30b-a3b"))
    del qwen["parallel_mlp_size"]
    assert resolve_architecture(qwen).parallel_mlp_size == 0


@pytest.mark.parametrize("field,value", [("n_layers", None), ("vocab_size", 0), ("n_experts_active", 200),
                                         ("n_kv_heads", 3)])
def test_it_names_the_field_it_cannot_use(field, value):
    arch = {**get_preset("tiny-moe"), field: value}
    with pytest.raises(ValueError, match=field):
        resolve_architecture(arch)


def test_scaling_keeps_the_ratios():
    full = resolve_architecture(get_preset("diffusiongemma-26b-a4b"))
    small = scale_architecture(full, layers=0.2, width=0.25, experts=0.25, vocab=1 / 64)
    assert small.n_layers == 6 and small.layer_types() == ["sliding"] * 5 + ["global"]
    assert small.n_experts_active / small.n_experts == full.n_experts_active / full.n_experts
    assert small.n_heads == full.n_heads  # head counts kept: same GQA groups
    assert small.attention_shape("global")[0] / small.attention_shape("sliding")[0] == 2 / 8
    assert small.global_head_dim / small.head_dim == 2
    assert small.hidden_size == 704 and small.moe_intermediate_size == 176 and small.vocab_size == 4096
    assert small.sliding_window == full.sliding_window and small.block_size == 256
    assert small.total_params_b is None and "scaled" in small.derived[-1]
    assert math.isclose(small.parallel_mlp_size / small.moe_intermediate_size, 3.0)
    assert scale_architecture(full) is full
