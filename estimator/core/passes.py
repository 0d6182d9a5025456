"""One forward pass over T new tokens per sequence with L tokens already cached (docs/estimator.md §3).

    t_pass = max(FLOPs / (peak * eff_c), bytes / (bandwidth * eff_m)) + t_fixed

Bytes: the dense weights minus the input embedding (a gather of T rows) and minus the LM head
when the pass projects no logits (a diffusion commit), plus the routed experts
the batch actually touches (`expert_coverage`), plus the KV cache read, plus the fp32 logits
written and read once. FLOPs: 2 per active matmul parameter per token, the LM head for the rows
whose logits are projected, attention (QK^T and PV), DiffusionGemma's self-conditioning GEMM,
and the dequantisation work of the weight format (ops per weight read, once per pass: that is
what makes K-quant decoding compute-bound on Apple GPUs, docs/estimator.md §3).

All functions are column-wise: every argument is a numpy array (or a scalar) over scenarios. The
time of passes (the max(), efficiencies, t_fixed, parallelism) is `workloads.reduced_time`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimator.core.architecture import ModelArrays, attention_flops, kv_elements, nan0
from estimator.core.units import ACT_BYTES, LOGIT_BYTES

BOUND_MEMORY, BOUND_COMPUTE, BOUND_OVERHEAD = 0, 1, 2
# Attention without a fused (flash) kernel materialises the scores: llama.cpp's graph without
# -fa writes KQ = K x Q in f32, softmax reads and rewrites it, and KQV reads it: four passes of
# 4 bytes over every (query, key, head) score (`build_attn` / `ggml_soft_max_ext` in llama.cpp;
# llama-bench ran with flash_attn off by default). These kernels are memory-bound, in series with
# the GEMMs: the traffic is timed at the memory bandwidth and added (workloads.reduced_time),
# not hidden under the roofline's max(). Fused kernels (FlashAttention, llama.cpp -fa 1) keep
# the scores on chip: no traffic.
SCORE_BYTES = 4.0 * 4.0
BOUND_NAMES = np.array(["memory", "compute", "overhead"], dtype=object)


def expert_coverage(n_experts: np.ndarray | float, top_k: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray:
    """Expected routed experts touched per MoE layer by `tokens` tokens, uniform routing.

    `E * (1 - (1 - k/E)**T)`: T=1 gives k, T=256 with E=128, k=8 gives ~E (docs/estimator.md §3). An upper
    bound in practice, trained routers are skewed (docs/diffusion.md §2.3). Dense models: 0.
    """
    experts = np.asarray(n_experts, dtype=np.float64)
    k = np.asarray(top_k, dtype=np.float64)
    tokens = np.asarray(tokens, dtype=np.float64)
    shape = np.broadcast(experts, k, tokens).shape
    touched = np.zeros(shape)
    moe = np.broadcast_to(experts > 0, shape)
    if moe.any():
        # Only the MoE rows pay for the power (most rows of a catalog matrix are dense models).
        e, kk, t = (np.broadcast_to(a, shape)[moe] for a in (experts, k, tokens))
        touched[moe] = e * -np.expm1(t * np.log1p(-kk / e))
    return touched


@dataclass(frozen=True)
class WeightBytes:
    """Bytes per weight of a file's two tensor groups: the routed experts and everything else.

    Most formats store both at one width; llama.cpp's MXFP4 MoE files keep the experts in MXFP4
    and every other tensor in Q8_0 (`hardware.NON_EXPERT_BITS`; docs/estimator.md §3).
    """

    experts: np.ndarray
    other: np.ndarray

    @classmethod
    def of(cls, bytes_per_weight: "np.ndarray | float | WeightBytes") -> "WeightBytes":
        if isinstance(bytes_per_weight, WeightBytes):
            return bytes_per_weight
        width = np.asarray(bytes_per_weight, dtype=np.float64)
        return cls(width, width)

    def __getitem__(self, rows) -> "WeightBytes":
        return WeightBytes(self.experts[rows], self.other[rows])


@dataclass
class PassCost:
    """FLOPs and bytes of one forward pass for the whole batch (not yet divided over devices)."""

    flops: np.ndarray            # dense weight GEMMs: matmul parameters, LM head, self-conditioning
    expert_flops: np.ndarray     # routed-expert GEMMs (small: each expert sees few tokens)
    expert_tokens: np.ndarray    # mean tokens per touched expert in this pass
    attn_flops: np.ndarray       # QK^T and PV (runs at its own efficiency: softmax, masking)
    weights: np.ndarray          # weights read (count): dequantisation work scales with it
    weight_bytes: np.ndarray
    kv_bytes: np.ndarray
    other_bytes: np.ndarray      # logits and self-conditioning buffers
    tokens: np.ndarray           # batch * T: tokens through the weights in this pass
    score_bytes: np.ndarray      # unfused attention's score matrices (SCORE_BYTES a score; 0 when fused)

    @property
    def bytes(self) -> np.ndarray:
        return self.weight_bytes + self.kv_bytes + self.other_bytes


def pass_cost(
    m: ModelArrays,
    bytes_per_weight: np.ndarray | WeightBytes,
    kv_bytes_per_elem: np.ndarray | float,
    *,
    tokens: np.ndarray | float,
    batch: np.ndarray | float,
    cached: np.ndarray | float,
    causal: np.ndarray | bool,
    logits_rows: np.ndarray | float,
    self_conditioning: np.ndarray | bool = False,
    fused_attention: np.ndarray | bool = True,
) -> PassCost:
    """FLOPs and bytes of one pass: `tokens` new tokens per sequence, `batch` sequences, `cached` keys.

    causal: new tokens attend causally among themselves (prefill, AR decode, commit) — on average
    `cached + (T+1)/2` keys; otherwise bidirectionally (a diffusion block): `cached + T` keys.
    logits_rows: rows per sequence projected through the LM head (AR decode: T; llama.cpp prefill:
    1; a diffusion step: the block). Dequantisation work is added at timing (`weights` x ops).
    fused_attention: False where attention materialises its scores (SCORE_BYTES).
    """
    tokens = np.asarray(tokens, dtype=np.float64)
    batch = np.asarray(batch, dtype=np.float64)
    cached = np.asarray(cached, dtype=np.float64)
    causal = np.asarray(causal, dtype=bool)
    self_conditioning = np.asarray(self_conditioning, dtype=bool)
    logits_rows = np.asarray(logits_rows, dtype=np.float64)
    routed_tokens = batch * tokens
    touched = expert_coverage(m.n_experts, m.top_k, routed_tokens)
    # Self-conditioning multiplies softmax(previous logits) by the embedding matrix: read in full.
    embedding_read = np.where(self_conditioning, m.skipped_per_pass, 0.0)
    # A pass that projects no logits (a diffusion commit) does not read the LM head; a tied one
    # is still read when it serves as the self-conditioning embedding.
    head_unread = np.where((logits_rows > 0) | (self_conditioning & m.tied), 0.0, m.lm_head)
    expert_weights = touched * m.expert_params
    weights = m.dense_params - m.skipped_per_pass - head_unread + embedding_read + expert_weights
    width = WeightBytes.of(bytes_per_weight)
    weight_bytes = (weights - expert_weights) * width.other + expert_weights * width.experts

    keys_mean = cached + np.where(causal, (tokens + 1.0) / 2.0, tokens)
    routed = m.top_k * m.expert_params          # parameters of the k experts a token goes through
    flops = batch * (
        2.0 * tokens * (m.matmul_params - routed)
        + 2.0 * logits_rows * m.lm_head
        + np.where(self_conditioning, 2.0 * tokens * m.vocab * m.hidden, 0.0)
    )
    expert_flops = batch * 2.0 * tokens * routed
    with np.errstate(divide="ignore", invalid="ignore"):
        expert_tokens = np.where(touched > 0, routed_tokens * m.top_k / touched, 0.0)
    attn = batch * attention_flops(m, tokens, keys_mean)
    scores = np.where(np.asarray(fused_attention, dtype=bool), 0.0,
                      batch * tokens * attention_scores(m, keys_mean) * SCORE_BYTES)

    kv_bytes = batch * kv_elements(m, cached + tokens) * kv_bytes_per_elem
    logits = batch * logits_rows * m.vocab * LOGIT_BYTES * 2.0
    # Self-conditioning keeps a [T x vocab] fp32 probability buffer and writes soft embeddings.
    selfcond = np.where(self_conditioning, batch * tokens * (m.vocab * LOGIT_BYTES * 2.0 + m.hidden * ACT_BYTES), 0.0)
    return PassCost(
        flops=flops,
        expert_flops=expert_flops,
        expert_tokens=expert_tokens,
        attn_flops=nan0(attn),
        weights=weights,
        weight_bytes=weight_bytes,
        kv_bytes=nan0(kv_bytes),
        other_bytes=nan0(logits + selfcond),
        tokens=routed_tokens,
        score_bytes=nan0(scores),
    )


def attention_scores(m: ModelArrays, keys_mean: np.ndarray | float) -> np.ndarray:
    """Scores one query token computes over all layers and heads (sliding layers see their window)."""
    keys_mean = np.asarray(keys_mean, dtype=np.float64)
    return m.n_heads * (m.n_local_layers * np.minimum(keys_mean, m.sliding_window) + m.n_global_layers * keys_mean)
