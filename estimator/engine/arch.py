"""Architecture descriptions for the reference engine: resolution, layer pattern, parameter count, scaling.

Pure Python (no torch): the Django side and the estimator core may import this module freely.
An architecture arrives as a mapping with the catalog's field names (`estimator.core.schema.
MODEL_COLUMNS`); `resolve_architecture` fills what the engine needs by documented rules and
records every derived value in `Arch.derived`, so a run record says exactly what was built.

A few engine-only keys are accepted next to the schema's fields (they have no catalog column):
`parallel_mlp_size` (width of the dense MLP that runs beside the routed experts),
`rope_theta`, `rope_theta_global`, `rms_eps`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

# Engine-only keys accepted in an architecture mapping, beside the schema's MODEL_COLUMNS.
ENGINE_KEYS = ("parallel_mlp_size", "rope_theta", "rope_theta_global", "rms_eps")


def _missing(value: Any) -> bool:
    """True for None, NaN and "" (how pandas/forms hand over an empty catalog cell)."""
    if value is None or value == "":
        return True
    return isinstance(value, float) and math.isnan(value)


def _int(value: Any) -> int | None:
    if _missing(value):
        return None
    as_float = float(value)
    if as_float != int(as_float):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(as_float)


@dataclass(frozen=True)
class Arch:
    """A fully resolved architecture: every size the engine needs, no None left where it matters."""

    slug: str
    name: str
    generation_mode: str
    diffusion_attention: str
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    global_kv_heads: int
    global_head_dim: int
    intermediate_size: int          # dense FFN width (dense layers, self-conditioning MLP)
    moe_intermediate_size: int      # one routed expert's width; 0 for a dense model
    n_experts: int                  # 0 = dense
    n_experts_active: int
    n_shared_experts: int
    n_dense_layers: int             # leading dense layers of a MoE model
    parallel_mlp_size: int          # dense MLP beside the routed experts (shared experts / Gemma 4); 0 = none
    vocab_size: int
    tied_embeddings: bool
    max_context: int | None
    sliding_window: int | None
    n_global_layers: int            # full-attention layers when sliding_window is set
    block_size: int | None
    self_conditioning: bool
    rope_theta: float
    rope_theta_global: float
    rms_eps: float
    total_params_b: float | None    # as stated by the source, None when scaled or unknown
    active_params_b: float | None
    derived: tuple[str, ...] = field(default=())

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    def layer_types(self) -> list[str]:
        """'sliding' or 'global' per layer.

        Rule: with n_global_layers = G of L layers, every (L // G)-th layer is global, counting
        from 1, until G are placed; the rest slide. This reproduces Gemma 2 (alternating),
        Gemma 3 (5 local : 1 global, 62 layers -> 10 global then 2 local) and Gemma 4 26B-A4B
        (globals at 5, 11, 17, 23, 29).
        """
        if not self.sliding_window:
            return ["global"] * self.n_layers
        if self.n_global_layers <= 0:
            return ["sliding"] * self.n_layers
        if self.n_global_layers >= self.n_layers:
            return ["global"] * self.n_layers
        period = self.n_layers // self.n_global_layers
        types, placed = [], 0
        for i in range(self.n_layers):
            if (i + 1) % period == 0 and placed < self.n_global_layers:
                types.append("global")
                placed += 1
            else:
                types.append("sliding")
        return types

    def ffn_types(self) -> list[str]:
        """'dense' or 'moe' per layer (leading n_dense_layers are dense in a MoE model)."""
        if not self.is_moe:
            return ["dense"] * self.n_layers
        return ["dense" if i < self.n_dense_layers else "moe" for i in range(self.n_layers)]

    def attention_shape(self, layer_type: str) -> tuple[int, int]:
        """(KV heads, head dim) of a layer type: global layers may differ (Gemma 4)."""
        if layer_type == "global":
            return self.global_kv_heads, self.global_head_dim
        return self.n_kv_heads, self.head_dim

    def to_dict(self) -> dict[str, Any]:
        """The schema's field names (plus the engine-only keys) with resolved values; JSON-able."""
        out = asdict(self)
        out["derived"] = list(self.derived)
        out["layer_types"] = self.layer_types()
        return out


def resolve_architecture(arch: Mapping[str, Any]) -> Arch:
    """Turn a catalog-style mapping into an `Arch`, deriving missing values by documented rules.

    Raises ValueError naming the field when a value that cannot be derived is missing.
    """
    notes: list[str] = []

    def need(name: str) -> int:
        value = _int(arch.get(name))
        if value is None or value <= 0:
            raise ValueError(f"{name}: required, got {arch.get(name)!r}")
        return value

    n_layers = need("n_layers")
    hidden = need("hidden_size")
    n_heads = need("n_heads")
    vocab = need("vocab_size")

    head_dim = _int(arch.get("head_dim"))
    if head_dim is None:
        if hidden % n_heads:
            raise ValueError("head_dim: missing and hidden_size is not divisible by n_heads")
        head_dim = hidden // n_heads
        notes.append(f"head_dim = hidden_size / n_heads = {head_dim}")
    n_kv = _int(arch.get("n_kv_heads"))
    if n_kv is None:
        n_kv = n_heads
        notes.append("n_kv_heads missing: multi-head attention (n_kv_heads = n_heads)")
    if n_heads % n_kv:
        raise ValueError(f"n_kv_heads: {n_kv} does not divide n_heads {n_heads}")
    global_kv = _int(arch.get("global_kv_heads")) or n_kv
    global_hd = _int(arch.get("global_head_dim")) or head_dim
    if n_heads % global_kv:
        raise ValueError(f"global_kv_heads: {global_kv} does not divide n_heads {n_heads}")
    if head_dim % 2 or global_hd % 2:
        raise ValueError("head_dim: must be even for rotary embeddings")

    n_experts = _int(arch.get("n_experts")) or 0
    k = _int(arch.get("n_experts_active")) or 0
    moe_inter = _int(arch.get("moe_intermediate_size")) or 0
    n_shared = _int(arch.get("n_shared_experts"))
    inter = _int(arch.get("intermediate_size"))
    n_dense = _int(arch.get("n_dense_layers")) or 0
    if n_experts:
        if not 0 < k <= n_experts:
            raise ValueError(f"n_experts_active: must be in 1..n_experts, got {arch.get('n_experts_active')!r}")
        if not moe_inter:
            raise ValueError("moe_intermediate_size: required for a MoE model")
        n_dense = min(n_dense, n_layers)
    else:
        k, moe_inter, n_dense = 0, 0, 0
        if inter is None:
            raise ValueError("intermediate_size: required for a dense model")

    active_b = None if _missing(arch.get("active_params_b")) else float(arch["active_params_b"])
    total_b = None if _missing(arch.get("total_params_b")) else float(arch["total_params_b"])

    # The width of a dense MLP running beside the routed experts. The catalog cannot tell a
    # Gemma 4 "dense MLP in parallel" (intermediate_size 2112) from a Qwen3 config's unused
    # intermediate_size (6144), so: explicit key > shared experts > whichever reading of
    # intermediate_size lands closer to the stated active parameter count > none.
    parallel = 0
    if n_experts:
        if not _missing(arch.get("parallel_mlp_size")):
            parallel = _int(arch["parallel_mlp_size"]) or 0
        elif n_shared:
            parallel = n_shared * moe_inter
            notes.append(f"parallel_mlp_size = n_shared_experts x moe_intermediate_size = {parallel}")
        elif inter and active_b:
            trial = {**dict(arch), "parallel_mlp_size": 0}
            without = count_params(resolve_architecture(trial))["active"]
            with_mlp = count_params(resolve_architecture({**trial, "parallel_mlp_size": inter}))["active"]
            if abs(with_mlp - active_b * 1e9) < abs(without - active_b * 1e9):
                parallel = inter
            notes.append(
                f"parallel_mlp_size = {parallel}: intermediate_size {inter} read as "
                f"{'a dense MLP beside the experts' if parallel else 'unused'} because that active count "
                f"({(with_mlp if parallel else without) / 1e9:.2f}B) is closer to active_params_b {active_b}B"
            )
    if inter is None:
        inter = parallel or 4 * hidden
        if n_dense or not _missing(arch.get("self_conditioning")) and arch.get("self_conditioning"):
            notes.append(f"intermediate_size missing: {inter} used for dense/self-conditioning MLPs")

    sliding = _int(arch.get("sliding_window"))
    n_global = _int(arch.get("n_global_layers"))
    if sliding and n_global is None:
        n_global = 0
        notes.append("n_global_layers missing with sliding_window set: every layer slides")
    n_global = n_global or 0

    if not _missing(arch.get("kv_lora_rank")):
        notes.append("kv_lora_rank set: MLA is modelled as plain GQA attention with n_kv_heads")

    generation_mode = str(arch.get("generation_mode") or "autoregressive")
    tied = bool(arch.get("tied_embeddings")) if not _missing(arch.get("tied_embeddings")) else False
    return Arch(
        slug=str(arch.get("slug") or arch.get("name") or "custom"),
        name=str(arch.get("name") or arch.get("slug") or "custom"),
        generation_mode=generation_mode,
        diffusion_attention=str(arch.get("diffusion_attention") or ""),
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        global_kv_heads=global_kv,
        global_head_dim=global_hd,
        intermediate_size=inter,
        moe_intermediate_size=moe_inter,
        n_experts=n_experts,
        n_experts_active=k,
        n_shared_experts=n_shared or 0,
        n_dense_layers=n_dense,
        parallel_mlp_size=parallel,
        vocab_size=vocab,
        tied_embeddings=tied,
        max_context=_int(arch.get("max_context")),
        sliding_window=sliding or None,
        n_global_layers=n_global,
        block_size=_int(arch.get("block_size")),
        self_conditioning=bool(arch.get("self_conditioning")) and not _missing(arch.get("self_conditioning")),
        rope_theta=float(arch.get("rope_theta") or 10_000.0),
        rope_theta_global=float(arch.get("rope_theta_global") or arch.get("rope_theta") or 1_000_000.0),
        rms_eps=float(arch.get("rms_eps") or 1e-6),
        total_params_b=total_b,
        active_params_b=active_b,
        derived=tuple(notes),
    )


def count_params(arch: Arch) -> dict[str, int]:
    """Parameter counts of the network the engine builds, without building it.

    Keys: total (every expert counted), active (per token: k routed experts), embedding
    (input table), lm_head (0 when tied), expert_per_layer (one routed expert), self_conditioning.
    """
    d = arch.hidden_size
    attn = 0
    for layer_type in arch.layer_types():
        n_kv, dh = arch.attention_shape(layer_type)
        attn += 2 * d * arch.n_heads * dh + 2 * d * n_kv * dh + 2 * d  # q, o; k, v; two norms
    ffn_total = ffn_active = 0
    expert = 3 * d * arch.moe_intermediate_size
    for ffn_type in arch.ffn_types():
        if ffn_type == "dense":
            ffn_total += 3 * d * arch.intermediate_size
            ffn_active += 3 * d * arch.intermediate_size
        else:
            shared = d * arch.n_experts + 3 * d * arch.parallel_mlp_size  # router + parallel MLP
            ffn_total += shared + arch.n_experts * expert
            ffn_active += shared + arch.n_experts_active * expert
    embedding = arch.vocab_size * d
    lm_head = 0 if arch.tied_embeddings else arch.vocab_size * d
    self_cond = (3 * d * arch.intermediate_size + d) if arch.self_conditioning else 0
    common = attn + embedding + lm_head + self_cond + d  # + final norm
    return {
        "total": common + ffn_total,
        "active": common + ffn_active,
        "embedding": embedding,
        "lm_head": lm_head,
        "expert_per_layer": expert,
        "self_conditioning": self_cond,
    }


def _round_to(value: float, multiple: int, minimum: int) -> int:
    return max(minimum, int(round(value / multiple)) * multiple)


def scale_architecture(
    arch: Arch,
    *,
    layers: float = 1.0,
    width: float = 1.0,
    experts: float = 1.0,
    vocab: float = 1.0,
) -> Arch:
    """A smaller (or larger) copy of `arch` that keeps its ratios.

    - layers: n_layers x layers; global:local and dense:MoE layer counts keep their proportion
      (at least one of each kind that existed).
    - width: hidden, every MLP width and head dims x width; head counts stay, so the GQA
      group size and the local/global KV-head ratio are unchanged.
    - experts: n_experts x experts with top-k scaled alike, so k/E (hence expert coverage
      E(1-(1-k/E)^T) / E as a function of tokens T) is kept.
    - vocab: vocab_size x vocab (the LM head and self-conditioning GEMMs scale with it).
    Positional quantities (sliding_window, block_size, max_context) are not scaled.
    """
    if min(layers, width, experts, vocab) <= 0:
        raise ValueError("scale factors must be positive")
    if (layers, width, experts, vocab) == (1.0, 1.0, 1.0, 1.0):
        return arch
    n_layers = max(1, int(round(arch.n_layers * layers)))
    n_global = arch.n_global_layers
    if n_global:
        n_global = min(n_layers, max(1, int(round(n_global * n_layers / arch.n_layers))))
    n_dense = arch.n_dense_layers
    if arch.is_moe and n_dense:
        n_dense = min(n_layers, max(1, int(round(n_dense * n_layers / arch.n_layers))))
    n_experts, k = arch.n_experts, arch.n_experts_active
    if n_experts:
        n_experts = max(1, int(round(n_experts * experts)))
        k = min(n_experts, max(1, int(round(arch.n_experts_active * n_experts / arch.n_experts))))

    def w(size: int, multiple: int = 8, minimum: int = 8) -> int:
        return _round_to(size * width, multiple, minimum) if size else 0

    note = f"scaled from {arch.slug}: layers x{layers}, width x{width}, experts x{experts}, vocab x{vocab}"
    return replace(
        arch,
        slug=f"{arch.slug}@scaled",
        name=f"{arch.name} (scaled)",
        n_layers=n_layers,
        n_global_layers=n_global,
        n_dense_layers=n_dense,
        hidden_size=w(arch.hidden_size),
        head_dim=w(arch.head_dim, 2, 4),
        global_head_dim=w(arch.global_head_dim, 2, 4),
        intermediate_size=w(arch.intermediate_size),
        moe_intermediate_size=w(arch.moe_intermediate_size),
        parallel_mlp_size=w(arch.parallel_mlp_size),
        n_experts=n_experts,
        n_experts_active=k,
        vocab_size=_round_to(arch.vocab_size * vocab, 64, 64),
        total_params_b=None,
        active_params_b=None,
        derived=arch.derived + (note,),
    )
