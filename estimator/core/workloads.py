"""Workloads as sums of forward passes: AR decode, prefill/TTFT, block diffusion (both families).

A workload is a list of `Slot`s, each "count x one pass of this cost" (docs/estimator.md §5).
`reduce` places the slots on an `Execution` — one device, tensor parallel over n devices,
llama.cpp's layer split over n devices, or partial offload of layers to the host — as
efficiency-free terms, and `reduced_time` applies the efficiencies (the estimator and the prior
fit evaluate that same function). Everything is column-wise over scenarios.

Costs that are linear in the cached length L (KV bytes, attention FLOPs) are evaluated at the
mean L over the passes they stand for and multiplied by the count; this is exact for the sums of
bytes and FLOPs and only approximates the max() of the roofline when the bound switches mid-way.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from estimator.core.architecture import ModelArrays, nan0
from estimator.core.passes import BOUND_COMPUTE, BOUND_MEMORY, BOUND_OVERHEAD, PassCost, pass_cost
from estimator.core.units import ACT_BYTES

PARALLEL_NONE, PARALLEL_TENSOR, PARALLEL_LAYERS = 0, 1, 2
# llama.cpp pipelines the ubatches of ONE llama_decode call across layer-split devices (PR #6017,
# "llama : add pipeline parallelism support": llama_decode splits a batch of up to n_batch tokens
# into n_ubatch ubatches and queues them asynchronously); a prompt longer than n_batch is several
# calls (llama-bench `test_prompt`: llama_decode per min(n_prompt - n_processed, n_batch) tokens;
# n_batch 2048, n_ubatch 512 by default). So at most n_batch / n_ubatch = 4 chunks pipeline.
# Check: 8B Q4_K_M pp4096 on 2 / 4 / 8 RTX 4090s runs 1.60 / 2.37 / 2.87 x one 4090 (dev rows);
# 4 chunks per call give 1.60 / 2.29 / 2.91, all 8 chunks at once 1.78 / 2.91 / 4.27.
LAYER_SPLIT_BATCH_TOKENS = 2048
PARALLEL_MODES = {"none": PARALLEL_NONE, "tensor": PARALLEL_TENSOR, "layers": PARALLEL_LAYERS}

# "auto": the runtime's own scheme (`diffusion_cache_of_runtime`).
DIFFUSION_CACHES = ("auto", "none", "prefix", "dual")
# Which cache a full-attention diffusion model (LLaDA, Dream) runs with is a property of the
# runtime, not the model (docs/diffusion.md "Serving engines"): SGLang's multi-block path
# (`FullAttnMultiBlock`, the d3LLM serving path) keeps NO cache — every step runs the prompt and
# the whole canvas, several blocks denoised at once, so tokens per forward counts over the canvas;
# the HF scripts (Fast-dLLM) refresh a dual cache per block.
RUNTIME_DIFFUSION_CACHE = {"sglang": "none"}
DEFAULT_DIFFUSION_CACHE = "dual"


def diffusion_cache_of_runtime(given: np.ndarray, base_runtime: np.ndarray) -> np.ndarray:
    """The cache scheme per row: the given one, or for "auto" the runtime's (RUNTIME_DIFFUSION_CACHE)."""
    given = np.asarray(given, dtype=object)
    runtime_cache = np.array([RUNTIME_DIFFUSION_CACHE.get(str(r), DEFAULT_DIFFUSION_CACHE) for r in base_runtime],
                             dtype=object)
    return np.where((given == "auto") | (given == "") | (given == None), runtime_cache, given)  # noqa: E711


@dataclass
class Slot:
    count: np.ndarray
    cost: PassCost
    # Independent passes (prefill chunks) pipeline across layer-split devices; dependent ones
    # (decode steps, denoising steps) do not.
    pipelined: bool = False
    # How many of those passes pipeline together (the runtime synchronises between groups).
    pipeline_depth: np.ndarray | float = np.inf


@dataclass
class Execution:
    """Where and how passes run; every field is an array over scenarios.

    The efficiencies are not here: `reduce` turns slots into efficiency-free terms once, and
    `reduced_time` applies (eff_m, eff_c, t_fixed, dequant ops) — the estimator and the prior fit
    evaluate the same formula.
    """

    peak: np.ndarray             # FLOP/s of the compute dtype on one device
    vector_peak: np.ndarray      # FP32 FLOP/s of the vector ALUs (dequantisation runs there)
    bandwidth: np.ndarray        # bytes/s of one device
    n_layers: np.ndarray
    hidden: np.ndarray
    n_devices: np.ndarray
    parallel: np.ndarray         # PARALLEL_* codes
    link_bandwidth: np.ndarray   # bytes/s device-to-device
    link_latency: np.ndarray     # s per collective / hop
    device_fraction: np.ndarray  # share of layer weights+KV on the device(s); < 1 = offload
    host_bandwidth: np.ndarray   # bytes/s of host RAM (offloaded layers are read there)
    host_peak: np.ndarray        # FLOP/s of the host CPU
    host_eff_m: np.ndarray
    host_eff_c: np.ndarray
    # FLOP/s attention's GEMMs run at: FP16 whatever the weights' GEMM path (an int8 MMQ path is
    # for the weights only; hardware.Peaks.attention). None: `peak`.
    attn_peak: np.ndarray | None = None

    def take(self, index: np.ndarray) -> "Execution":
        return Execution(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[index]
                            for f in fields(self)})


@dataclass
class Reduced:
    """Efficiency-free time terms of a workload, shape (slots, scenarios)."""

    count: np.ndarray
    compute: np.ndarray   # s of the dense weight GEMMs at eff_c = 1 on the device (NaN: peak unknown)
    expert: np.ndarray    # s of the routed-expert GEMMs at eff_c = 1
    expert_tokens: np.ndarray  # tokens per touched expert (sets the small-GEMM efficiency)
    attention: np.ndarray  # s of attention at eff_attn = 1
    scores: np.ndarray    # s of unfused attention's score traffic at eff_m = 1 (passes.SCORE_BYTES)
    dequant: np.ndarray   # s at eff_c = 1 per dequant op per weight (vector ALUs; 0 if their rate is unknown)
    memory: np.ndarray    # bytes read on the device (time = bytes / min(eff_m * bandwidth, cap))
    bandwidth: np.ndarray  # bytes/s of the device
    host: np.ndarray      # s of the offloaded layers on the host
    comm: np.ndarray      # s of all-reduces (tensor parallel) or hops (layer split)
    small: np.ndarray     # bool: few enough tokens per weight for a memory-only figure
    flops: np.ndarray     # FLOPs of the pass, whole batch over all devices (the working shown)
    traffic: np.ndarray   # bytes the pass reads/writes, whole batch over all devices

    def expand(self, index: np.ndarray, n: int) -> "Reduced":
        """Scatter terms computed for rows `index` into `n` rows; the others get NaN times."""
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            fill = False if item.name == "small" else (0.0 if item.name in ("count", "expert_tokens") else np.nan)
            full = np.full((value.shape[0], n), fill, dtype=value.dtype)
            full[:, index] = value
            out[item.name] = full
        return Reduced(**out)


@dataclass
class SlotsTime:
    total: np.ndarray
    compute: np.ndarray   # summed compute term (s)
    memory: np.ndarray    # summed memory term (s)
    overhead: np.ndarray  # summed fixed + communication (s)
    bound: np.ndarray     # BOUND_* of the largest of the three sums
    # The working: FLOPs and bytes summed over the workload's passes, and how many passes.
    # Filled by `with_working` (the estimator), not by `reduced_time` (the fit's hot loop).
    flops: np.ndarray | None = None
    traffic: np.ndarray | None = None
    passes: np.ndarray | None = None


def with_working(t: SlotsTime, red: Reduced) -> SlotsTime:
    """`t` with the workload's total FLOPs, bytes and number of passes attached."""
    t.flops = (red.count * red.flops).sum(axis=0)
    t.traffic = (red.count * red.traffic).sum(axis=0)
    t.passes = red.count.sum(axis=0)
    return t


def reduce(slots: list[Slot], ex: Execution) -> Reduced:
    """Split each slot's pass over the devices and the host; no efficiency applied yet.

    Terms that only some rows have (tensor-parallel all-reduces, layer-split hops, offloaded
    layers) are computed on those rows only: a catalog matrix is mostly single-device rows.
    """
    n = np.maximum(ex.n_devices, 1.0)
    multi = n > 1
    tensor = (ex.parallel == PARALLEL_TENSOR) & multi
    layers = (ex.parallel == PARALLEL_LAYERS) & multi
    share = np.where(tensor, 1.0 / n, 1.0)
    f_dev = np.clip(ex.device_fraction, 0.0, 1.0)
    offloaded = f_dev < 1.0
    any_tensor, any_layers, any_offload = tensor.any(), layers.any(), offloaded.any()
    on_device = share * f_dev
    terms = []
    for slot in slots:
        cost = slot.cost
        shape = cost.flops.shape
        count = np.broadcast_to(slot.count, shape)
        # llama.cpp's layer split pipelines independent chunks: with k chunks over n devices the
        # pass takes (k + n - 1) / n stage-times of 1/n pass each instead of k passes. Only the
        # chunks of one llama_decode call pipeline (`LAYER_SPLIT_BATCH_TOKENS`): k is capped there.
        dev = on_device
        if slot.pipelined and any_layers:
            pipe = layers & (count > 0)
            k = np.maximum(np.minimum(count, slot.pipeline_depth), 1.0)
            dev = on_device * np.where(pipe, (k + n - 1.0) / (n * k), 1.0)
        host = np.zeros(shape)
        device_bytes = cost.bytes * dev
        if any_offload:
            # Offloaded layers run on the host at host memory bandwidth (llama.cpp -ngl < n_layers).
            # Offload moves layers (their weights and KV); the logits buffer stays on the device,
            # as memory.verdict holds it there.
            rest = share * (1.0 - f_dev)
            layer_bytes = cost.weight_bytes + cost.kv_bytes
            host_c = (cost.flops + cost.expert_flops + cost.attn_flops) * rest / (ex.host_peak * ex.host_eff_c)
            host_m = layer_bytes * rest / (ex.host_bandwidth * ex.host_eff_m)
            host = np.where(offloaded, np.fmax(host_c, host_m), 0.0)
            device_bytes = np.where(offloaded, layer_bytes * dev + cost.other_bytes * share, device_bytes)
        comm = np.zeros(shape)
        if any_tensor or any_layers:
            message = cost.tokens * ex.hidden * ACT_BYTES
            # Tensor parallel: two all-reduces of the hidden state per layer (ring: 2(n-1)/n of it).
            allreduce = 2.0 * (n - 1.0) / n * message / ex.link_bandwidth + ex.link_latency
            comm = np.where(tensor, 2.0 * ex.n_layers * allreduce, 0.0)
            # Layer split: devices run their layers in turn; each hop ships the activations once.
            comm = nan0(comm + np.where(layers, (n - 1.0) * (message / ex.link_bandwidth + ex.link_latency), 0.0))
        # A pass of a few tokens per weight is a matrix-vector product: it runs on the vector ALUs
        # (FP32 rate), not on the tensor cores (an NVIDIA P40's FP16 is 1/64 rate, its FP32 full).
        small = np.broadcast_to(cost.tokens <= 4, shape)
        per_flop = dev / np.where(small, ex.vector_peak, ex.peak)
        attn_peak = ex.peak if ex.attn_peak is None else ex.attn_peak
        per_attn_flop = dev / np.where(small, ex.vector_peak, attn_peak)
        terms.append((
            count,
            cost.flops * per_flop,
            cost.expert_flops * per_flop,
            cost.expert_tokens,
            cost.attn_flops * per_attn_flop,
            cost.score_bytes * dev / ex.bandwidth,
            nan0(cost.weights * dev / ex.vector_peak),
            device_bytes,
            np.broadcast_to(ex.bandwidth, shape),
            host,
            comm,
            small,
            cost.flops + cost.expert_flops + cost.attn_flops,
            cost.bytes,
        ))
    dtypes = [np.float64] * 11 + [bool] + [np.float64] * 2
    if len(terms) == 1:   # one slot: views, no copies
        return Reduced(*(np.asarray(x, dtype=d)[None] for x, d in zip(terms[0], dtypes)))
    return Reduced(*(np.stack([np.asarray(t[i], dtype=d) for t in terms]) for i, d in enumerate(dtypes)))


def reduced_time(red: Reduced, eff_m, eff_c, eff_attn, t_fixed, dequant_ops, gemm_factor, expert_half_tokens,
                 bw_cap=np.inf) -> SlotsTime:
    """Total seconds of a workload and the bound that dominates it.

    Per pass: max(compute, bytes / min(eff_m * bandwidth, bw_cap)) + t_fixed + communication
    (+ host part); bw_cap is the most a runtime's kernels pull from any memory (Little's law: the
    bytes they keep in flight over the memory latency; llama.cpp's batch-1 kernels reach about the
    same absolute bandwidth on an A100 as on an RTX 4090). With
        compute = dense GEMMs / (eff_c * gemm_factor) + dequant ops / eff_c
                + expert GEMMs / (eff_c * gemm_factor * m / (m + expert_half_tokens))
                + attention / eff_attn + unfused attention's score traffic / eff_m
    gemm_factor: the weight format's GEMM rate relative to FP16 (1 for FP16/BF16); m: tokens per
    touched expert (an expert GEMM of m rows reaches m/(m + m_half) of a large GEMM's rate).
    With no published peak, only passes of few tokens per weight get a (memory-only) figure.
    """
    # The format's GEMM factor is a tensor-core (or int8 MMQ) path effect: a matrix-vector pass
    # runs on the vector ALUs (`reduce` divides its FLOPs by the vector peak) and pays eff_c only.
    gemm = eff_c * np.where(red.small, 1.0, gemm_factor)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Matrix-vector passes (few tokens per weight) run on the vector ALUs whatever the expert
        # sees: the small-GEMM penalty is a tensor-core effect, so it applies to GEMM passes only.
        small_gemm = np.where((red.expert_tokens > 0) & ~red.small,
                              red.expert_tokens / (red.expert_tokens + expert_half_tokens), 1.0)
    # Dequantisation runs on the vector ALUs whatever GEMM path the weights then take: it pays
    # eff_c, not the format's GEMM factor (an int8 tensor-core factor says nothing about it).
    compute = (red.compute / gemm + np.asarray(dequant_ops) * red.dequant / eff_c
               + red.expert / (gemm * small_gemm) + red.attention / eff_attn + red.scores / eff_m)
    # Soft minimum (p = 4) of the two ceilings: smooth, so a fit can find a ceiling from either side.
    # (1/r^4 + 1/c^4)^(1/4) written with products and square roots: pow() is slow on 250k rows.
    inv_reach = 1.0 / (eff_m * red.bandwidth)
    inv_cap = np.where(red.small, 1.0 / np.asarray(bw_cap, dtype=np.float64), 0.0)
    r2, c2 = inv_reach * inv_reach, inv_cap * inv_cap
    memory = red.memory * np.sqrt(np.sqrt(r2 * r2 + c2 * c2))
    core = np.fmax(compute, memory)
    core = np.where((np.isnan(compute) & ~red.small) | np.isnan(memory), np.nan, core)
    overhead = t_fixed + red.comm
    count = red.count
    total = (count * (core + red.host + overhead)).sum(axis=0)
    # An unknown compute term (no peak published for the ALUs the work runs on) stays unknown.
    compute_sum = np.where(count > 0, count * compute, 0.0).sum(axis=0)
    # Offloaded layers are bound by host memory: their time counts with the memory term.
    memory_sum = (count * (memory + red.host)).sum(axis=0)
    overhead_sum = (count * overhead).sum(axis=0)
    bound = np.where(compute_sum > memory_sum, BOUND_COMPUTE, BOUND_MEMORY)
    bound = np.where(overhead_sum > np.fmax(compute_sum, memory_sum), BOUND_OVERHEAD, bound)
    return SlotsTime(total=total, compute=compute_sum, memory=memory_sum, overhead=overhead_sum, bound=bound)


# --- Workloads ---------------------------------------------------------------------------------

def decode_slots(m: ModelArrays, bpw, kv_b, *, batch, context, fused_attention=True) -> list[Slot]:
    """One AR decode step: `batch` sequences, each one new token over `context` cached tokens."""
    cost = pass_cost(m, bpw, kv_b, tokens=1.0, batch=batch, cached=context, causal=True,
                     logits_rows=1.0, fused_attention=fused_attention)
    return [Slot(np.ones_like(cost.flops), cost)]


def prefill_slots(m: ModelArrays, bpw, kv_b, *, prompt, chunk, batch=1.0, cached=0.0,
                  fused_attention=True) -> list[Slot]:
    """Prefill of `prompt` tokens in chunks of at most `chunk` (llama.cpp ubatch, vLLM chunked prefill).

    Chunks are taken equal (P / ceil(P/chunk)); the mean cached length over them is
    `cached + (P - T)/2`. Only the last token's logits are projected (one row per sequence).
    Across layer-split devices the chunks of one `LAYER_SPLIT_BATCH_TOKENS` call pipeline.
    """
    prompt = np.asarray(prompt, dtype=np.float64)
    n_chunks = np.maximum(np.ceil(prompt / chunk), 1.0)
    tokens = prompt / n_chunks
    cost = pass_cost(m, bpw, kv_b, tokens=tokens, batch=batch, cached=cached + (prompt - tokens) / 2.0,
                     causal=True, logits_rows=1.0 / n_chunks, fused_attention=fused_attention)
    depth = np.maximum(np.floor(LAYER_SPLIT_BATCH_TOKENS / np.maximum(tokens, 1.0)), 1.0)
    return [Slot(np.where(prompt > 0, n_chunks, 0.0), cost, pipelined=True, pipeline_depth=depth)]


def steps_per_block(block: np.ndarray, tokens_per_forward: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Denoising forwards per block: `steps` when given, else B / tokens per forward.

    Tokens per forward is a ratio of totals (tokens committed over forwards run), so B / TPF is
    the mean number of forwards per block exactly; a single block takes a whole number of them,
    but rounding each up would overstate the total by up to one forward per block (d3LLM's TPF 9.1
    with B = 32: 4 instead of 3.5). The dev-row fit counts forwards the same way.
    """
    # At least one forward per block: a TPF above a (user-given, smaller) block commits it in one.
    from_tpf = np.maximum(block / np.maximum(tokens_per_forward, 1.0), 1.0)
    return np.where(np.isnan(steps), from_tpf, steps)


def diffusion_slots(
    m: ModelArrays, bpw, kv_b, *, prompt, gen, block, steps, batch, cache, chunk,
) -> tuple[list[Slot], list[Slot]]:
    """(prefill slots, decoding slots) of block-diffusion generation of `gen` tokens (docs/diffusion.md §2.1).

    Family B (block-causal, exact cache: SDAR, LLaDA2, DiffusionGemma): prefill once; per block,
    `steps` passes of the B-token block over the committed prefix, then one commit pass writing
    the clean block's KV. Family A (full attention: LLaDA, Dream), by `cache`:
      none   - every step is a FULL forward over prompt + whole canvas (vanilla LLaDA, and SGLang's
               multi-block decoding: its steps are gen / tokens-per-forward over the canvas; a
               batch of b canvases is b times the FLOPs, compute-bound, so batching gains little);
      prefix - Fast-dLLM PrefixCache: per block one FULL forward, then steps over the current
               and all later blocks (G - s queries) against the cached prefix;
      dual   - Fast-dLLM DualCache: per block one FULL forward, then steps over the block alone
               against the cached prefix AND suffix (P + G keys).
    The prefix grows across blocks; costs are evaluated at the mean block and multiplied.
    """
    prompt = np.asarray(prompt, dtype=np.float64)
    gen = np.asarray(gen, dtype=np.float64)
    block = np.asarray(block, dtype=np.float64)
    n_blocks = np.ceil(gen / block)
    full_attention = m.diffusion_full_attention
    selfcond = m.self_conditioning
    mean_start = (n_blocks - 1.0) * block / 2.0          # mean offset of a block inside the canvas
    mean_prefix = prompt + mean_start

    # Family B.
    step_b = pass_cost(m, bpw, kv_b, tokens=block, batch=batch, cached=mean_prefix, causal=False,
                       logits_rows=block, self_conditioning=selfcond)
    commit_b = pass_cost(m, bpw, kv_b, tokens=block, batch=batch, cached=mean_prefix, causal=False,
                         logits_rows=0.0)
    # Family A: the full forward carries the prompt and the whole canvas, logits for every row.
    # (Computed for every row and picked below; skipped when no row is family A.)
    canvas = prompt + gen
    prefix_q = gen - mean_start
    if full_attention.any():
        full = pass_cost(m, bpw, 0.0, tokens=canvas, batch=batch, cached=0.0, causal=False, logits_rows=canvas)
        step_prefix = pass_cost(m, bpw, kv_b, tokens=prefix_q, batch=batch, cached=mean_prefix, causal=False,
                                logits_rows=prefix_q)
        step_dual = pass_cost(m, bpw, kv_b, tokens=block, batch=batch, cached=canvas - block, causal=False,
                              logits_rows=block)
    else:
        full = step_prefix = step_dual = step_b
    cache_code = np.asarray(cache, dtype=object)
    # Anything but "none" and "prefix" (including the default "dual") is Fast-dLLM DualCache.
    is_prefix = full_attention & (cache_code == "prefix")

    def pick(a: PassCost, b: PassCost, where: np.ndarray) -> PassCost:
        return PassCost(*(np.where(where, getattr(a, f), getattr(b, f)) for f in
                          ("flops", "expert_flops", "expert_tokens", "attn_flops", "weights", "weight_bytes",
                           "kv_bytes", "other_bytes", "tokens", "score_bytes")))

    cached_step = pick(step_prefix, step_dual, is_prefix)
    steps_count, commits, full_forwards = diffusion_counts(m, gen=gen, block=block, steps=steps, cache=cache)
    slots = [
        Slot(steps_count, pick(cached_step, step_b, full_attention)),
        Slot(commits, commit_b),
        Slot(full_forwards, full),
    ]
    prefill = prefill_slots(m, bpw, kv_b, prompt=np.where(full_attention, 0.0, prompt), chunk=chunk, batch=batch)
    return prefill, slots


def diffusion_counts(m: ModelArrays, *, gen, block, steps, cache) -> list[np.ndarray]:
    """How many times `diffusion_slots`' decoding passes run: [steps, commits, full forwards].

    Only these depend on the steps per block: the passes themselves do not (a sweep over tokens
    per forward reuses them).
    """
    gen = np.asarray(gen, dtype=np.float64)
    block = np.asarray(block, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.float64)
    n_blocks = np.ceil(gen / block)
    full_attention = m.diffusion_full_attention
    is_none = full_attention & (np.asarray(cache, dtype=object) == "none")
    zero = np.zeros_like(n_blocks)
    total_steps = n_blocks * steps
    # Fast-dLLM's cached loops call the model once after the refresh before testing whether the
    # block is done: at least one cached step per block (docs/diffusion.md §1.2).
    cached_steps = n_blocks * np.maximum(steps - 1.0, 1.0)
    return [
        # Family B: steps and commits; family A with cache: the cached steps after each refresh.
        np.where(full_attention, np.where(is_none, zero, cached_steps), total_steps),
        np.where(full_attention, zero, n_blocks),
        # Family A: full forwards (every step without cache, one per block otherwise).
        np.where(full_attention, np.where(is_none, total_steps, n_blocks), zero),
    ]
