"""A Hugging Face `config.json` -> a model architecture with its parameters counted from the shapes.

`architecture_from_config(config)` returns a dict with `ModelArchitecture`'s field names (the
estimator's columns, `estimator/core/schema.py`) plus `source`, `notes` and `derived_fields`.
Nothing is saved: the caller decides (a dry run prints it, the admin and the API save it).

Parameter counts follow docs/estimator.md "Parameters": a model is dense parameters D (attention,
norms, dense and shared FFNs, routers, embeddings, LM head) plus E routed experts per MoE layer of
which k run per token; X is one expert summed over the MoE layers, so `total = D + E*X` and
`active = D + k*X`. Tied embeddings count once. A vision tower is counted apart
(`vision_params_b`), as the estimator adds it only for image input. Multi-token-prediction
layers (DeepSeek's `num_nextn_predict_layers`) are not counted: they are not used to generate.

Families read: Llama, Mistral, Mixtral, Qwen2/2.5/3 and their MoE, Gemma 2/3/4 (with a nested
`text_config`), DeepSeek V2/V3 (MLA, shared experts, leading dense layers), gpt-oss, Phi-3/4,
and the diffusion models LLaDA (OLMo-style keys), Dream, SDAR and LLaDA2. Another `model_type`
with the standard keys is read as a Llama-style decoder, and the notes say so. A key that is
needed and missing raises ConfigImportError naming it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models_catalog.sources import slugify

BILLION = 1e9


class ConfigImportError(ValueError):
    """A config.json that cannot be read, with the key at fault when there is one."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def config_from_text(text: str | bytes) -> dict[str, Any]:
    """Parse config.json text: JSON only (nothing is executed), and it must be an object."""
    try:
        config = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigImportError(f"Not valid JSON: {exc}.") from exc
    if not isinstance(config, dict):
        raise ConfigImportError("A config.json is a JSON object ({...}), not a list or a single value.")
    return config


# --- Family traits (transformers' modeling code for each model_type) ---------------------------
_FAMILY = {
    "llama": "Llama", "mistral": "Mistral", "mixtral": "Mistral", "qwen2": "Qwen", "qwen2_moe": "Qwen",
    "qwen3": "Qwen", "qwen3_moe": "Qwen", "gemma": "Gemma", "gemma2": "Gemma", "gemma3": "Gemma",
    "gemma3_text": "Gemma", "gemma4": "Gemma", "gemma4_text": "Gemma", "deepseek_v2": "DeepSeek",
    "deepseek_v3": "DeepSeek", "gpt_oss": "gpt-oss", "phi3": "Phi", "llada": "LLaDA", "dream": "Dream",
    "sdar": "SDAR", "sdar_moe": "SDAR", "llada2_moe": "LLaDA",
}
# transformers' Gemma configs tie the LM head to the embedding unless told otherwise; the others don't.
_TIED_BY_DEFAULT = ("gemma", "gemma2", "gemma3", "gemma3_text", "gemma4", "gemma4_text")
# Qwen2-style attention always carries q/k/v biases (and no o bias), whatever attention_bias says.
_QKV_BIAS = ("qwen2", "qwen2_moe", "dream")
# Per-head RMSNorm on queries and keys.
_QK_NORM = ("qwen3", "qwen3_moe", "gemma3", "gemma3_text", "gemma4", "gemma4_text", "sdar", "sdar_moe")
# Gemma 2+ wrap attention and MLP in pre- and post-norms: four norms per layer instead of two.
_SANDWICH_NORMS = ("gemma2", "gemma3", "gemma3_text", "gemma4", "gemma4_text")
# Full-attention masked diffusion (approximate, refreshed caches) and block-causal diffusion (exact
# prefix cache): docs/diffusion.md.
_DIFFUSION_FULL = ("llada", "dream")
_DIFFUSION_BLOCK_CAUSAL = ("sdar", "sdar_moe", "llada2_moe")
_NESTED = ("text_config", "language_config", "llm_config")
# Values a saved config may leave out because transformers' config class supplies them.
_TRANSFORMERS_DEFAULTS: dict[str, dict[str, int]] = {
    # Gemma3TextConfig: the 27B/12B/4B checkpoints' text_config omits both.
    "gemma3_text": {"vocab_size": 262_208, "max_position_embeddings": 131_072},
}


class _Reader:
    """Typed reads from one config level; `where` prefixes key names in error messages."""

    def __init__(self, config: Mapping[str, Any], where: str = ""):
        self.config = config
        self.where = where

    def get(self, *keys: str, default: Any = None) -> Any:
        for key in keys:
            if self.config.get(key) is not None:
                return self.config[key]
        return default

    def integer(self, *keys: str, default: int | None = None, required: bool = False,
                zero: bool = False) -> int | None:
        """The first of `keys` present, a positive integer (or 0 when `zero`)."""
        for key in keys:
            value = self.config.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
                kind = "a non-negative" if zero else "a positive"
                raise ConfigImportError(f"'{self.where}{key}' must be {kind} integer, got {value!r}.", key=key)
            return value
        if required and default is None:
            also = f" (nor {', '.join(repr(k) for k in keys[1:])})" if len(keys) > 1 else ""
            raise ConfigImportError(f"config.json has no '{self.where}{keys[0]}'{also}: it is needed to count the "
                                    f"parameters.", key=keys[0])
        return default

    def flag(self, key: str, default: bool) -> bool:
        value = self.config.get(key)
        return default if value is None else bool(value)


@dataclass
class _Layout:
    """What one decoder layer holds, as read from the config."""

    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate: int | None       # dense FFN width
    moe_layers: list[bool]         # per layer: its FFN is routed experts
    expert_width: int | None
    n_experts: int


def _model_type(config: Mapping[str, Any]) -> str:
    return str(config.get("model_type") or "").strip().lower()


def _text_level(config: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The language model's config: a multimodal wrapper nests it under text_config (Gemma 3/4)."""
    for key in _NESTED:
        if isinstance(config.get(key), Mapping):
            return config[key], f"{key}."
    return config, ""


def _layer_kinds(r: _Reader, model_type: str, n_layers: int, window: int | None) -> list[bool]:
    """Per layer: True when it attends globally (full attention), False when sliding-window."""
    types = r.get("layer_types")
    if isinstance(types, list) and types:
        if len(types) != n_layers:
            raise ConfigImportError(f"'{r.where}layer_types' lists {len(types)} layers but num_hidden_layers is "
                                    f"{n_layers}.", key="layer_types")
        return [str(kind) != "sliding_attention" for kind in types]
    if not window:
        return [True] * n_layers
    if model_type == "gemma2":
        # transformers Gemma2: even layers slide, odd layers attend globally.
        return [bool(i % 2) for i in range(n_layers)]
    if model_type in ("gemma3", "gemma3_text", "gemma4", "gemma4_text"):
        pattern = r.integer("sliding_window_pattern", default=6)
        return [(i + 1) % pattern == 0 for i in range(n_layers)]
    if r.config.get("use_sliding_window") is False:
        # Qwen2/3 (and Dream) state a window but switch it off.
        return [True] * n_layers
    # Mistral-style: every layer slides over the window.
    return [False] * n_layers


def _attention(r: _Reader, model_type: str, layout: _Layout, global_layer: bool) -> int:
    """Parameters of one layer's attention block (projections, biases, q/k norms, sinks)."""
    h, heads = layout.hidden, layout.n_heads
    if model_type in ("deepseek_v2", "deepseek_v3"):
        return _mla_attention(r, layout)
    kv_heads, dim = layout.n_kv_heads, layout.head_dim
    kv_tensors = 2
    if global_layer and model_type in ("gemma4", "gemma4_text"):
        dim = r.integer("global_head_dim", default=dim)
        kv_heads = r.integer("num_global_key_value_heads", default=kv_heads)
        # attention_k_eq_v: the global layers project keys only and use them as values.
        kv_tensors = 1 if r.flag("attention_k_eq_v", False) else 2
    params = h * heads * dim + kv_tensors * h * kv_heads * dim + heads * dim * h
    if model_type in _QKV_BIAS or (model_type == "llada" and r.flag("include_qkv_bias", False)):
        params += heads * dim + 2 * kv_heads * dim
    elif r.flag("attention_bias", False) or (model_type == "llada" and r.flag("include_bias", False)):
        params += heads * dim + kv_tensors * kv_heads * dim + h
    if model_type in _QK_NORM:
        params += 2 * dim
    if model_type == "gpt_oss":
        params += heads  # one learned attention-sink logit per head
    return params


def _mla_attention(r: _Reader, layout: _Layout) -> int:
    """DeepSeek's multi-head latent attention: low-rank q (optional) and a shared KV latent."""
    h, heads = layout.hidden, layout.n_heads
    rank = r.integer("kv_lora_rank", required=True)
    rope = r.integer("qk_rope_head_dim", required=True)
    nope = r.integer("qk_nope_head_dim", required=True)
    v_dim = r.integer("v_head_dim", required=True)
    q_rank = r.integer("q_lora_rank")
    q_out = heads * (nope + rope)
    q = h * q_rank + q_rank + q_rank * q_out if q_rank else h * q_out
    kv = h * (rank + rope) + rank + rank * heads * (nope + v_dim)
    return q + kv + heads * v_dim * h


def _mlp(h: int, width: int, *, gated: bool = True, bias: bool = False) -> int:
    """A feed-forward block: gate+up+down (SwiGLU/GeGLU) or up+down."""
    matrices = 3 if gated else 2
    return matrices * h * width + (((2 if gated else 1) * width + h) if bias else 0)


def _moe_layers(r: _Reader, model_type: str, n_layers: int) -> list[bool]:
    """Per layer: True when its FFN is a routed mixture of experts."""
    if model_type in ("deepseek_v2", "deepseek_v3", "llada2_moe"):
        first_dense = r.integer("first_k_dense_replace", default=0, zero=True)
        freq = r.integer("moe_layer_freq", default=1)
        return [i >= first_dense and i % freq == 0 for i in range(n_layers)]
    if model_type in ("qwen2_moe", "qwen3_moe", "sdar_moe"):
        step = r.integer("decoder_sparse_step", default=1)
        dense_only = set(r.get("mlp_only_layers", default=[]) or [])
        return [i not in dense_only and (i + 1) % step == 0 for i in range(n_layers)]
    return [True] * n_layers


def _decoder_layers(r: _Reader, model_type: str, layout: _Layout, global_layers: list[bool]) -> tuple[int, int]:
    """(D without embeddings, X): the layers' dense parameters, and one routed expert over all MoE layers."""
    h = layout.hidden
    shared = r.integer("n_shared_experts", "num_shared_experts")
    shared_width = r.integer("shared_expert_intermediate_size")
    # gpt-oss experts and router carry biases; its experts are gate/up/down like the others.
    one_expert = _mlp(h, layout.expert_width, bias=model_type == "gpt_oss") if layout.expert_width else 0
    norms = (4 if model_type in _SANDWICH_NORMS else 2) * h
    dense = experts = 0
    for is_global, is_moe in zip(global_layers, layout.moe_layers):
        dense += _attention(r, model_type, layout, is_global) + norms
        if not is_moe:
            dense += _mlp(h, layout.intermediate or 4 * h, bias=r.flag("mlp_bias", False))
            continue
        experts += one_expert
        # The router (gpt-oss adds a bias, DeepSeek V3 a score-correction bias, one per expert).
        dense += h * layout.n_experts + (layout.n_experts if model_type in ("gpt_oss", "deepseek_v3") else 0)
        if shared:
            dense += shared * _mlp(h, layout.expert_width)
        if shared_width:
            dense += _mlp(h, shared_width) + h  # Qwen2-MoE: a shared expert and its sigmoid gate
        if model_type in ("gemma4", "gemma4_text") and r.flag("enable_moe_block", False) and layout.intermediate:
            dense += _mlp(h, layout.intermediate)  # Gemma 4 MoE layers keep a dense MLP beside the experts
    return dense, experts


def _vision_params(config: Mapping[str, Any], text_hidden: int) -> int | None:
    """A ViT/SigLIP tower from `vision_config`: blocks, patch and position embeddings, projector.

    An estimate from the shapes (biases as SigLIP has them; Gemma 4's tower has a gated MLP),
    listed in derived_fields.
    """
    vision = config.get("vision_config")
    if not isinstance(vision, Mapping):
        return None
    r = _Reader(vision, "vision_config.")
    h = r.integer("hidden_size")
    layers = r.integer("num_hidden_layers")
    width = r.integer("intermediate_size")
    if not (h and layers and width):
        return None
    gated = _model_type(vision).startswith("gemma4")
    block = 4 * h * h + 4 * h + _mlp(h, width, gated=gated, bias=not gated) + 4 * h
    patch = r.integer("patch_size", default=14)
    channels = r.integer("num_channels", default=3)
    positions = r.integer("position_embedding_size") or (r.integer("image_size", default=224) // patch) ** 2
    embeddings = channels * patch * patch * h + h + positions * h
    return layers * block + embeddings + 2 * h + h * text_hidden


def architecture_from_config(config: Mapping[str, Any], *, name: str | None = None) -> dict[str, Any]:
    """The catalog record a config.json describes, parameters counted from its shapes.

    Raises ConfigImportError naming the key it cannot do without.
    """
    if not isinstance(config, Mapping):
        raise ConfigImportError("A config.json is a JSON object ({...}).")
    outer_type = _model_type(config)
    text, where = _text_level(config)
    r = _Reader(text, where)
    model_type = _model_type(text) or outer_type
    if not model_type:
        raise ConfigImportError("config.json has no 'model_type': it says which architecture the keys describe.",
                                key="model_type")
    notes: list[str] = []
    derived: list[str] = []
    filled = {key: value for key, value in _TRANSFORMERS_DEFAULTS.get(model_type, {}).items() if text.get(key) is None}
    if filled:
        text = {**text, **filled}
        r = _Reader(text, where)
        notes.append(f"transformers' defaults for {model_type}: " + ", ".join(f"{k}={v}" for k, v in filled.items()))
        derived.extend({"vocab_size": "vocab_size", "max_position_embeddings": "max_context"}[key] for key in filled)

    n_layers = r.integer("num_hidden_layers", "n_layers", "num_layers", required=True)
    hidden = r.integer("hidden_size", "d_model", "n_embd", required=True)
    n_heads = r.integer("num_attention_heads", "n_heads", "n_head", required=True)
    n_kv_heads = r.integer("num_key_value_heads", "n_kv_heads", default=n_heads)
    head_dim = r.integer("head_dim")
    if head_dim is None:
        head_dim = hidden // n_heads
        derived.append("head_dim")
    vocab = r.integer("vocab_size", required=True)
    # OLMo-style configs (LLaDA) pad the embedding table beyond the tokenizer: the table is what is stored.
    table_rows = max(vocab, r.integer("embedding_size", default=vocab))
    intermediate = r.integer("intermediate_size", "mlp_hidden_size", "ffn_hidden_size")
    tied_key = "weight_tying" if model_type == "llada" else "tie_word_embeddings"
    tied_value = text.get(tied_key, config.get(tied_key))
    tied = bool(tied_value) if tied_value is not None else model_type in _TIED_BY_DEFAULT
    max_context = r.integer("max_position_embeddings", "max_sequence_length", "n_positions", "seq_length")
    window = r.integer("sliding_window")
    n_experts = r.integer("num_experts", "num_local_experts", "n_routed_experts")
    top_k = r.integer("num_experts_per_tok", "top_k_experts", "experts_per_token", "moe_topk")
    if n_experts and not top_k:
        raise ConfigImportError(f"config.json names {n_experts} experts but no 'num_experts_per_tok': the active "
                                f"parameters need it.", key="num_experts_per_tok")
    moe = bool(n_experts and top_k and n_experts > top_k)
    expert_width = r.integer("moe_intermediate_size", "expert_intermediate_size") if moe else None
    if moe and expert_width is None:
        # Mixtral and gpt-oss: the experts are the FFN, intermediate_size is their width.
        expert_width = intermediate
    if moe and expert_width is None:
        raise ConfigImportError("config.json has no 'moe_intermediate_size' (nor 'intermediate_size'): the experts' "
                                "width is needed.", key="moe_intermediate_size")
    moe_layers = _moe_layers(r, model_type, n_layers) if moe else [False] * n_layers
    if not moe and intermediate is None:
        raise ConfigImportError("config.json has no 'intermediate_size': the FFN width is needed.",
                                key="intermediate_size")
    global_layers = _layer_kinds(r, model_type, n_layers, window)
    shared = r.integer("n_shared_experts", "num_shared_experts") if moe else None
    shared_width = r.integer("shared_expert_intermediate_size") if moe else None
    layout = _Layout(hidden, n_heads, n_kv_heads, head_dim, intermediate, moe_layers, expert_width, n_experts or 0)
    dense, experts_summed = _decoder_layers(r, model_type, layout, global_layers)
    embedding = table_rows * hidden
    per_layer_width = r.integer("hidden_size_per_layer_input", default=0, zero=True)
    if per_layer_width:
        # Gemma 3n / Gemma 4 E-models: a second table feeding every layer its own small embedding.
        per_layer_vocab = r.integer("vocab_size_per_layer_input", default=vocab)
        embedding += per_layer_vocab * n_layers * per_layer_width
        notes.append("per-layer input embeddings counted with the embeddings")
    lm_head = 0 if tied else table_rows * hidden
    dense += embedding + lm_head + hidden  # + the final norm

    total = dense + (n_experts * experts_summed if moe else 0)
    active = dense + (top_k * experts_summed if moe else 0)
    n_moe_layers = sum(moe_layers)
    n_global = sum(global_layers)

    generation_mode, diffusion_attention = "autoregressive", ""
    if model_type in _DIFFUSION_FULL or outer_type in _DIFFUSION_FULL:
        generation_mode, diffusion_attention = "block_diffusion", "full"
    elif model_type in _DIFFUSION_BLOCK_CAUSAL or outer_type in _DIFFUSION_BLOCK_CAUSAL:
        generation_mode, diffusion_attention = "block_diffusion", "block_causal"
    mla = model_type in ("deepseek_v2", "deepseek_v3")
    if mla:
        head_dim_out = None  # MLA: q/k and v differ in width and the cache holds a latent, not heads
        if "head_dim" in derived:
            derived.remove("head_dim")
    else:
        head_dim_out = head_dim
    mtp_layers = r.integer("num_nextn_predict_layers", default=0, zero=True)
    if mtp_layers:
        notes.append(f"{mtp_layers} multi-token-prediction layer(s) not counted")
    global_kv_shared = bool(model_type in ("gemma4", "gemma4_text") and r.flag("attention_k_eq_v", False)
                            and 0 < n_global < n_layers)
    if model_type not in _FAMILY:
        notes.append(f"model_type '{model_type}' read as a Llama-style decoder")
    vision = _vision_params(config, hidden)
    if vision:
        derived.append("vision_params_b")

    sliding_window = window if (window and n_global < n_layers) or (window and model_type == "phi3") else None
    hf_repo = str(config.get("_name_or_path") or "").strip()
    label = name or hf_repo.rstrip("/").split("/")[-1] or f"{model_type} {total / BILLION:.1f}B"
    record: dict[str, Any] = {
        "name": label[:120],
        "slug": slugify(label),
        "family": _FAMILY.get(model_type, model_type),
        "org": hf_repo.split("/")[0] if "/" in hf_repo else "",
        "hf_repo": hf_repo if "/" in hf_repo else "",
        "generation_mode": generation_mode,
        "diffusion_attention": diffusion_attention,
        "total_params_b": total / BILLION,
        "active_params_b": active / BILLION,
        "embedding_params_b": (embedding + lm_head) / BILLION,
        "tied_embeddings": tied,
        "vision_params_b": vision / BILLION if vision else None,
        "n_layers": n_layers,
        "hidden_size": hidden,
        "n_heads": n_heads,
        "n_kv_heads": n_kv_heads,
        "head_dim": head_dim_out,
        "intermediate_size": intermediate if (not moe or shared_width is None) else shared_width,
        "moe_intermediate_size": expert_width if moe else None,
        "n_experts": n_experts if moe else None,
        "n_experts_active": top_k if moe else None,
        "n_shared_experts": shared or (1 if shared_width else None),
        "n_dense_layers": (n_layers - n_moe_layers) or None if moe else None,
        "vocab_size": vocab,
        "max_context": max_context,
        "sliding_window": sliding_window,
        "n_global_layers": n_global if (sliding_window and n_global) else None,
        "global_kv_heads": r.integer("num_global_key_value_heads") if model_type.startswith("gemma4") else None,
        "global_head_dim": r.integer("global_head_dim") if model_type.startswith("gemma4") else None,
        "global_kv_shared": global_kv_shared,
        "kv_lora_rank": r.integer("kv_lora_rank") if mla else None,
        "qk_rope_head_dim": r.integer("qk_rope_head_dim") if mla else None,
        "attention_pattern": _pattern_text(n_layers, n_global, window, mla),
        "block_size": r.integer("block_size", "block_length") if generation_mode == "block_diffusion" else None,
        "tokens_per_forward": None,
        "self_conditioning": False,
        "source": f"config.json ({hf_repo or model_type}), parameters counted from the shapes by hwfit",
        "notes": "; ".join(notes),
        "derived_fields": sorted({*derived, "total_params_b", "active_params_b", "embedding_params_b"}),
    }
    if model_type == "phi3" and window:
        # Phi-3's window is as long as its trained context in practice (transformers ignores it
        # below max_position_embeddings): sized as full attention, as the catalog does.
        record["n_global_layers"] = n_layers
    return record


def _pattern_text(n_layers: int, n_global: int, window: int | None, mla: bool) -> str:
    if mla:
        return "MLA: a latent KV cache per token"
    if window and n_global < n_layers:
        return f"{n_layers - n_global} sliding-window ({window}) + {n_global} full-attention layers"
    return "full attention"
