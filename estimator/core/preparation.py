"""Preparation: everything about a scenario frame that does not depend on the efficiencies.

`prepare` reads the workload columns (filling the derived ones), picks each row's runtime, sizes
the memory and gives the verdict (`memory.py`), takes the peaks the runtime reaches
(`hardware.py`), chooses the configuration whose speed is reported, and reduces every workload
(decode, prefill, first token, largest batch, diffusion) to its efficiency-free pass terms.
`timing.times` prices those terms at a set of efficiencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from estimator.core import memory as memory_mod, priors as priors_mod
from estimator.core.architecture import Coded, ModelArrays, coded, col, flag, map_combinations, model_arrays, nan_to_num
from estimator.core.hardware import DeviceArrays, Peaks, device_arrays, quant_arrays, runtime_peaks
from estimator.core.units import GB, GIB, KV_DTYPE_BYTES, TERA
from estimator.core.workloads import (
    PARALLEL_LAYERS, PARALLEL_MODES, PARALLEL_NONE, PARALLEL_TENSOR, Execution, Reduced, decode_slots,
    diffusion_cache_of_runtime, diffusion_counts, diffusion_slots, prefill_slots, reduce, steps_per_block,
)


def _runtime(priors: dict, given: Coded, quant_family: Coded, kind: Coded, is_diffusion: np.ndarray) -> Coded:
    """The scenario's runtime, or the default for the format and device kind when none is named."""
    rules = priors["constants"]["default_runtime"]

    def choose(given_, family, kind_, diffusion):
        out = []
        for g, f, k, d in zip(given_, family, kind_, diffusion):
            if g:
                out.append(g)
            elif d:
                out.append(rules["diffusion"])
            else:
                out.append(rules["by_device_kind"].get(k) or rules["by_quant_family"].get(f, rules["fallback"]))
        return out

    return map_combinations([given, quant_family, kind, is_diffusion], choose, as_coded=True)


def _format_supported(frame: pd.DataFrame, kind: Coded) -> np.ndarray:
    """Whether the format has kernels for the device kind ('' = not stated = assume yes)."""
    if "native_device_kinds" not in frame or not len(frame):
        return np.ones(len(frame), dtype=bool)
    native = coded(frame, "native_device_kinds")
    return map_combinations([native, kind], lambda ns, ks: [n in ("", "nan") or f",{k}," in n for n, k in zip(ns, ks)],
                            dtype=bool)


def _lookup(table: Mapping[str, float], keys: Coded, default: float) -> np.ndarray:
    return keys.map(lambda u: [float(table.get(k, default)) for k in u], dtype=np.float64)


@dataclass
class Prepared:
    """Everything about a scenario frame that does not depend on the efficiencies."""

    m: ModelArrays
    runtime: Coded
    kind: Coded
    device_class: Coded          # 'gpu:nvidia': the level priors are looked up at first
    device_slug: Coded
    batch: np.ndarray
    context: np.ndarray
    prompt: np.ndarray
    gen: np.ndarray
    decode_context: np.ndarray
    n_devices: np.ndarray
    parallel: np.ndarray
    block: np.ndarray
    steps: np.ndarray
    tokens_per_forward: np.ndarray  # diffusion: tokens committed per denoising forward
    mem: memory_mod.MemoryBreakdown
    verdict: memory_mod.Verdict
    verdict_code: np.ndarray     # index into memory.VERDICTS
    supported: np.ndarray
    usable: np.ndarray
    bandwidth: np.ndarray
    issue_rate: np.ndarray       # unit-cycles/s of one device (NaN: unknown, no issue-rate ceiling)
    peak: np.ndarray
    peak_source: Coded
    peak_is_fallback: np.ndarray  # the compute dtype's own peak is not published: a slower one stands in
    dequant_class: Coded         # the weight format's class on its GEMM path ("kquant-int8")
    vector_peak: np.ndarray      # FLOP/s of the vector ALUs (matrix-vector passes, dequantisation)
    vector_source: Coded         # the catalog column it came from ('' = unknown)
    n_asked: np.ndarray          # devices the scenario asked about
    device_fraction: np.ndarray
    max_batch: np.ndarray
    # Workload terms; diffusion ones only for the diffusion rows: (terms, row index) pairs.
    reduced: dict[str, Reduced | tuple[Reduced, np.ndarray]]


@dataclass
class _Workload:
    """A frame's workload columns with the derived values filled in (module docstring of `frames`)."""

    batch: np.ndarray
    context: np.ndarray
    gen: np.ndarray
    prompt: np.ndarray
    depth: np.ndarray            # tokens cached before the prompt
    decode_context: np.ndarray
    kv_bytes: np.ndarray         # per KV element
    n_devices: np.ndarray        # as given
    auto_parallel: np.ndarray    # the runtime's own split: llama.cpp by layers, others tensor
    parallel: np.ndarray         # as given (none on one device)
    chunk: np.ndarray            # prefill chunk
    block: np.ndarray
    steps: np.ndarray            # denoising passes per block
    tpf: np.ndarray              # tokens committed per denoising forward (given, the model's, else 1)
    steps_given: np.ndarray      # the scenario set steps_per_block itself (no tokens-per-forward sensitivity)
    cache: Coded                 # diffusion cache
    image: np.ndarray
    fused: np.ndarray            # fused (flash) attention; NaN given = fused (passes.SCORE_BYTES)


def _workload(frame: pd.DataFrame, constants: dict, m: ModelArrays, base_rt: Coded) -> _Workload:
    batch = np.maximum(col(frame, "batch", 1.0), 1.0)
    context = col(frame, "context", 4096.0)
    gen = col(frame, "gen_len", 256.0)
    prompt = col(frame, "prompt_len")
    prompt = np.where(np.isnan(prompt), np.maximum(context - gen, 1.0), prompt)
    depth = nan_to_num(col(frame, "prefill_depth", 0.0))
    decode_ctx = col(frame, "decode_context")
    decode_ctx = np.where(np.isnan(decode_ctx), prompt + depth, decode_ctx)
    n_dev_given = np.maximum(col(frame, "n_devices", 1.0), 1.0)
    parallel_text = coded(frame, "parallel")
    auto_mode = np.where(base_rt.eq("llama-cpp"), PARALLEL_LAYERS, PARALLEL_TENSOR).astype(np.float64)
    parallel = np.where(parallel_text.eq("auto"), auto_mode,
                        _lookup({k: float(v) for k, v in PARALLEL_MODES.items()}, parallel_text, PARALLEL_TENSOR))
    parallel = np.where(n_dev_given > 1, parallel, PARALLEL_NONE)
    chunk = col(frame, "prefill_chunk")
    chunk = np.where(np.isnan(chunk), _lookup(constants["prefill_chunk"], base_rt, constants["prefill_chunk"]["*"]), chunk)
    block = col(frame, "block_size")
    block = np.where(np.isnan(block), m.block_size, block)
    block = np.where(np.isnan(block), constants["diffusion"]["default_block_size"], block)
    tpf = col(frame, "tokens_per_forward")
    tpf = np.where(np.isnan(tpf), m.tokens_per_forward, tpf)
    tpf = np.where(np.isnan(tpf), 1.0, tpf)
    return _Workload(
        batch=batch, context=context, gen=gen, prompt=prompt, depth=depth, decode_context=decode_ctx,
        kv_bytes=_lookup(KV_DTYPE_BYTES, coded(frame, "kv_dtype"), np.nan), n_devices=n_dev_given,
        auto_parallel=auto_mode, parallel=parallel, chunk=chunk, block=block,
        steps=steps_per_block(block, tpf, col(frame, "steps_per_block")), tpf=tpf,
        steps_given=~np.isnan(col(frame, "steps_per_block")),
        cache=_cache_of_runtime(coded(frame, "diffusion_cache"), base_rt),
        image=flag(frame, "image_input"),
        fused=nan_to_num(col(frame, "flash_attention"), nan=1.0) > 0.5,
    )


def _cache_of_runtime(given: Coded, base_rt: Coded) -> Coded:
    """The diffusion cache per row, "auto" resolved by the runtime (workloads.RUNTIME_DIFFUSION_CACHE)."""
    return map_combinations([given, base_rt], lambda gs, rs: list(diffusion_cache_of_runtime(gs, rs)), as_coded=True)


@dataclass
class _Memory:
    need: memory_mod.MemoryBreakdown     # at the scenario's batch
    at_batch1: memory_mod.MemoryBreakdown  # one sequence, the largest pass's activations held once
    diffusion_tokens: np.ndarray         # tokens (and logit rows) of a sequence's largest diffusion pass


def _memory(m: ModelArrays, bpw: np.ndarray, w: _Workload, overhead: np.ndarray) -> _Memory:
    # Tokens (and logit rows) of a sequence's largest diffusion pass. Family A runs FULL forwards
    # over prompt + canvas with logits for every row: every step without a cache, and the
    # refresh at each block start with a prefix or dual cache (docs/diffusion.md).
    diffusion_tokens = np.where(m.diffusion_full_attention, w.prompt + w.gen, w.block)
    pass_tokens = np.fmax(np.minimum(w.prompt, w.chunk), w.batch)
    pass_tokens = np.where(m.is_diffusion, np.fmax(pass_tokens, w.batch * diffusion_tokens), pass_tokens)
    logits_rows = np.where(m.is_diffusion, w.batch * diffusion_tokens, w.batch)
    # Family A without a cache (vanilla LLaDA) re-runs the whole canvas every step and keeps no KV
    # cache; a prefix or dual cache holds prompt + canvas (docs/diffusion.md).
    kv_context = np.where(m.diffusion_full_attention & w.cache.eq("none"), 0.0, w.context)
    need = memory_mod.memory_breakdown(m, bpw, w.kv_bytes, batch=w.batch, context=kv_context, pass_tokens=pass_tokens,
                                       logits_rows=logits_rows, overhead=overhead, image_input=w.image)
    # For the largest batch that fits: per-sequence KV, decode activations and logits scale with
    # b; the prefill chunk's activations are held once.
    at_batch1 = memory_mod.memory_breakdown(m, bpw, w.kv_bytes, batch=1.0, context=kv_context,
                                            pass_tokens=np.where(m.is_diffusion, diffusion_tokens, 1.0),
                                            logits_rows=np.where(m.is_diffusion, diffusion_tokens, 1.0),
                                            overhead=overhead + need.activations, image_input=w.image)
    return _Memory(need=need, at_batch1=at_batch1, diffusion_tokens=diffusion_tokens)


def _execution(frame: pd.DataFrame, constants: dict, dev: DeviceArrays, peaks: Peaks, m: ModelArrays,
               n_devices: np.ndarray, parallel: np.ndarray, device_fraction: np.ndarray) -> Execution:
    """How the reported configuration runs: its devices, their link, the host for offloaded layers."""
    n = len(frame)
    link_known = ~np.isnan(dev.interconnect)
    link = np.where(link_known, dev.interconnect, dev.host_link)
    link = np.where(np.isnan(link), constants["default_link_gbs"] * GB, link)
    latency = np.where(link_known, constants["link_latency_s"]["device_link"], constants["link_latency_s"]["pcie"])
    host = constants["host"]
    return Execution(
        peak=peaks.flops, vector_peak=peaks.vector, bandwidth=dev.bandwidth, n_layers=m.n_layers,
        hidden=m.hidden, n_devices=n_devices, parallel=parallel, link_bandwidth=link, link_latency=latency,
        device_fraction=device_fraction, host_bandwidth=col(frame, "host_memory_bandwidth_gbs", 60.0) * GB,
        host_peak=col(frame, "host_tflops", 1.0) * TERA,
        host_eff_m=np.full(n, host["eff_m"]), host_eff_c=np.full(n, host["eff_c"]), attn_peak=peaks.attention,
    )


def _reduced(m: ModelArrays, bpw: np.ndarray, w: _Workload, ex: Execution,
             b_eval: np.ndarray) -> dict[str, Reduced | tuple[Reduced, np.ndarray]]:
    """Every workload's efficiency-free pass terms; a workload equal to another shares its terms."""
    n = len(w.batch)
    kv_b, decode_ctx, fused = w.kv_bytes, w.decode_context, w.fused
    any_batch = not np.all(w.batch == 1)
    reduced = {
        "decode": reduce(decode_slots(m, bpw, kv_b, batch=w.batch, context=decode_ctx, fused_attention=fused), ex),
        "prefill": reduce(prefill_slots(m, bpw, kv_b, prompt=w.prompt, chunk=w.chunk, cached=w.depth,
                                        fused_attention=fused), ex),

        "decode_max_batch": reduce(decode_slots(m, bpw, kv_b, batch=b_eval, context=decode_ctx, fused_attention=fused), ex),
    }
    reduced["decode1"] = reduce(decode_slots(m, bpw, kv_b, batch=1.0, context=decode_ctx, fused_attention=fused), ex) \
        if any_batch else reduced["decode"]
    # The first token's pass decodes right after the prompt: the batch-1 decode when they coincide.
    reduced["first_token"] = reduced["decode1"] if np.array_equal(decode_ctx, w.prompt + w.depth) else \
        reduce(decode_slots(m, bpw, kv_b, batch=1.0, context=w.prompt + w.depth, fused_attention=fused), ex)
    if m.is_diffusion.any():
        # Diffusion passes only for the diffusion rows (a few models of a catalog matrix).
        rows = np.flatnonzero(m.is_diffusion)
        md, exd = m.take(rows), ex.take(rows)

        def diffusion(b, steps=w.steps):
            return diffusion_slots(md, bpw[rows], kv_b[rows], prompt=w.prompt[rows], gen=w.gen[rows],
                                   block=w.block[rows], steps=steps[rows], batch=b[rows],
                                   cache=w.cache.take(rows).values, chunk=w.chunk[rows])

        dif_prefill, dif = diffusion(w.batch)
        reduced["diffusion"] = (reduce(dif, exd), rows)
        base = reduced["diffusion"][0]
        reduced["diffusion_prefill"] = (reduce(dif_prefill, exd), rows)
        reduced["diffusion1"] = (reduce(diffusion(np.ones(n))[1], exd), rows) if any_batch else reduced["diffusion"]
        reduced["diffusion_max_batch"] = (reduce(diffusion(b_eval)[1], exd), rows)
        # How tok/s moves with tokens per forward, the least certain input (docs/diffusion.md):
        # the same passes, B / (k x TPF) steps per block; not when the steps were given. Only
        # how often each pass runs changes: the passes' terms are those of `diffusion`.
        for k in TPF_SENSITIVITY:
            steps_k = np.where(w.steps_given, np.nan, steps_per_block(w.block, w.tpf * k, np.full(n, np.nan)))
            counts = diffusion_counts(md, gen=w.gen[rows], block=w.block[rows], steps=steps_k[rows],
                                      cache=w.cache.take(rows).values)
            reduced[f"diffusion_tpf_x{k:g}"] = (replace(base, count=np.stack(counts)), rows)
    return reduced


# Multiples of the tokens per forward in use that the answer shows tok/s at (the x1 figure is
# diffusion_tok_s itself).
TPF_SENSITIVITY = (0.5, 0.75, 1.5, 2.0)


def prepare(frame: pd.DataFrame, priors: dict, *, configuration: str = "verdict",
            max_devices: int = 8, max_batch_cap: int = 256) -> Prepared:
    """Workload columns, memory, verdict and the efficiency-free pass terms of every workload.

    configuration: "verdict" evaluates speeds on the configuration the memory verdict names (one
    device, offload, or the n devices it needs); "given" on the scenario's n_devices / parallel
    whatever memory says (the accuracy report: those runs did run).
    """
    constants = priors["constants"]
    n = len(frame)
    m = model_arrays(frame)
    q = quant_arrays(frame)
    dev = device_arrays(frame)
    kind = dev.kind

    runtime = _runtime(priors, coded(frame, "runtime"), q.family, kind, m.is_diffusion)
    base_rt = Coded(runtime.codes, np.array([priors_mod.base_runtime(r) for r in runtime.uniques], dtype=object))
    w = _workload(frame, constants, m, base_rt)
    dq_class = priors_mod.dequant_class(coded(frame, "quant_name"), q.family, col(frame, "bits_per_weight"))
    peaks = runtime_peaks(frame, q.compute_dtype, base_rt, dq_class, kind)
    bpw = q.weight_bytes

    overhead = _lookup(constants["memory_overhead_gb"], kind, constants["memory_overhead_gb"]["*"]) * GIB
    memory = _memory(m, bpw, w, overhead)
    supported = _format_supported(frame, kind)
    verdict, verdict_code = memory_mod.scenario_verdict(
        memory.need, m, dev.usable_memory, offload_kind=kind.isin(memory_mod.OFFLOAD_KINDS),
        multi_kind=kind.isin(memory_mod.MULTI_DEVICE_KINDS), usable_fraction=col(frame, "usable_memory_fraction"),
        host_memory=col(frame, "host_memory_gb", 64.0) * GIB, n_devices_given=w.n_devices, supported=supported,
        max_devices=max_devices, scale_out=flag(frame, "scale_out") if "scale_out" in frame else True,
    )

    # The configuration whose speed is reported.
    if configuration == "given":
        n_devices, device_fraction, mode = w.n_devices, np.ones(n), w.parallel
    else:
        multi = verdict_code == memory_mod.MULTI_DEVICE
        n_devices = np.where(multi, verdict.devices_needed, w.n_devices)
        mode = np.where(multi, w.auto_parallel, w.parallel)
        device_fraction = np.where(verdict_code == memory_mod.OFFLOAD, verdict.device_fraction, 1.0)
    ex = _execution(frame, constants, dev, peaks, m, n_devices, mode, device_fraction)

    b_max = memory_mod.max_batch(memory.at_batch1, dev.usable_memory, n_devices, max_batch_cap)
    b_max = np.where(device_fraction < 1.0, np.minimum(b_max, 1.0), b_max)
    return Prepared(
        m=m, runtime=runtime, kind=kind, device_slug=coded(frame, "device_slug"), batch=w.batch,
        device_class=map_combinations([kind, coded(frame, "vendor")],
                                      lambda ks, vs: [priors_mod.device_class(k, v) for k, v in zip(ks, vs)], as_coded=True),
        context=w.context, prompt=w.prompt, gen=w.gen, decode_context=w.decode_context, n_devices=n_devices,
        parallel=mode, block=w.block, steps=w.steps, tokens_per_forward=w.tpf, mem=memory.need, verdict=verdict, verdict_code=verdict_code,
        supported=supported, usable=dev.usable_memory, bandwidth=dev.bandwidth, issue_rate=dev.issue_rate,
        peak=peaks.flops,
        peak_source=peaks.source, dequant_class=peaks.gemm_class, peak_is_fallback=peaks.is_fallback,
        vector_peak=peaks.vector, vector_source=peaks.vector_source, n_asked=w.n_devices,
        device_fraction=device_fraction, max_batch=b_max, reduced=_reduced(m, bpw, w, ex, np.maximum(b_max, 1.0)),
    )
