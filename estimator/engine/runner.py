"""Run one configuration end to end and return one plain, JSON-able record.

`run_engine` builds the model (or reuses one), warms up, decodes once under measurement and
returns the record; `time_passes` times single forwards over a grid of shapes, the raw
material of the calibration fit (docs/calibration.md). Both import torch, so a Celery
worker should import this module inside its task, after forking.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import torch

from . import decoding
from .arch import count_params
from .config import RunConfig
from .engine import KINDS, Engine, PassRecord
from .memory import MemoryMeter
from .model import Transformer, dtype_of
from .probe import device_info, pick_device

RECORD_VERSION = 1
# Forwards that denoise (DiffusionGemma's tokens_per_forward counts only these: no prefill/commit).
DENOISING_KINDS = ("diffusion_step", "full", "prefix_step")
ProgressFn = Callable[[dict[str, Any]], None]


def expected_experts_touched(n_experts: int, top_k: int, tokens: int) -> float:
    """E (1 - (1 - k/E)^T): expected distinct experts for T independent uniformly routed tokens."""
    return n_experts * (1.0 - (1.0 - top_k / n_experts) ** tokens)


def build_model(config: RunConfig | Mapping[str, Any]) -> Transformer:
    """The model a run of `config` would build (to reuse across runs of the same architecture)."""
    cfg = RunConfig.from_any(config).resolved()
    return Transformer(cfg.architecture(), dtype=cfg.dtype, device=pick_device(cfg.device),
                       seed=cfg.seed, moe_impl=cfg.moe_impl)


def _check_model(model: Transformer, cfg: RunConfig) -> None:
    if model.arch != cfg.architecture() or model.dtype != dtype_of(cfg.dtype):
        raise ValueError("model: the given model was built for another architecture or dtype")
    model.moe_impl = cfg.moe_impl


def _decode(cfg: RunConfig, engine: Engine, prompt: torch.Tensor, gen_len: int, generator: torch.Generator,
            progress: decoding.Progress | None) -> decoding.DecodeResult:
    block = int(cfg.block_size or 32)
    if cfg.mode == "ar":
        return decoding.decode_ar(engine, prompt, gen_len, progress=progress)
    if cfg.mode == "block_mask":
        return decoding.decode_block_mask(
            engine, prompt, gen_len, block=block, commit_rule=str(cfg.commit_rule), threshold=cfg.threshold,
            tokens_per_step=cfg.tokens_per_step, alignment=str(cfg.block_alignment),
            commit_attention=str(cfg.commit_attention), commit_last_block=bool(cfg.commit_last_block),
            progress=progress)
    if cfg.mode == "block_uniform":
        return decoding.decode_block_uniform(
            engine, prompt, gen_len, block=block, generator=generator,
            max_denoising_steps=cfg.max_denoising_steps, entropy_bound=cfg.entropy_bound, t_min=cfg.t_min,
            t_max=cfg.t_max, stability_threshold=cfg.stability_threshold,
            confidence_threshold=cfg.confidence_threshold,
            tokens_per_step=cfg.tokens_per_step if cfg.commit_rule == "schedule" else None,
            commit_last_block=bool(cfg.commit_last_block), progress=progress)
    return decoding.decode_full(
        engine, prompt, gen_len, block=block, cache_mode="none" if cfg.mode == "full_nocache" else "prefix",
        commit_rule=str(cfg.commit_rule), threshold=cfg.threshold, tokens_per_step=cfg.tokens_per_step,
        progress=progress)


def _generator(device: torch.device, seed: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def _prompt(model: Transformer, batch: int, length: int, seed: int) -> torch.Tensor:
    # Random ids below the reserved ones; a stream separate from the weights' and the noise's.
    return torch.randint(0, model.pad_id, (batch, length), generator=_generator(model.device, seed),
                         device=model.device)


def _kind_times(passes: list[PassRecord]) -> dict[str, dict[str, float]]:
    grouped: dict[str, list[PassRecord]] = defaultdict(list)
    for p in passes:
        grouped[p.kind].append(p)
    out = {}
    for kind, items in grouped.items():
        secs = [p.seconds for p in items]
        out[kind] = {"count": len(items), "total_s": sum(secs), "mean_s": sum(secs) / len(secs),
                     "median_s": statistics.median(secs), "min_s": min(secs), "max_s": max(secs),
                     "mean_queries": sum(p.queries for p in items) / len(items),
                     "mean_context": sum(p.context for p in items) / len(items)}
    return out


def _expert_summary(passes: list[PassRecord], n_experts: int, top_k: int) -> list[dict[str, Any]]:
    """Experts touched per MoE layer, grouped by (kind, tokens routed per pass), vs the uniform formula."""
    grouped: dict[tuple[str, int], list[int]] = defaultdict(list)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for p in passes:
        key = (p.kind, p.batch * p.queries)
        grouped[key].extend(p.experts_touched)
        counts[key] += 1
    rows = []
    for (kind, tokens), touched in sorted(grouped.items()):
        rows.append({"kind": kind, "tokens_routed": tokens, "passes": counts[(kind, tokens)],
                     "touched_mean": sum(touched) / len(touched), "touched_min": min(touched),
                     "touched_max": max(touched),
                     "uniform_expectation": expected_experts_touched(n_experts, top_k, tokens)})
    return rows


def run_engine(config: RunConfig | Mapping[str, Any], *, model: Transformer | None = None,
               progress: ProgressFn | None = None) -> dict[str, Any]:
    """Build (or reuse `model`), warm up, decode once under measurement; return the record.

    config: a RunConfig or a mapping of its fields, e.g.
        {"arch": "diffusiongemma-26b-a4b", "scale_layers": 0.25, ..., "mode": "block_uniform",
         "commit_rule": "schedule", "tokens_per_step": 16, "dtype": "bf16"}
    progress: called after every forward with {"forwards", "tokens_done", "tokens_total", "elapsed_s"}.
    Record keys: see README.md in this package ("The run record").
    """
    cfg = RunConfig.from_any(config).resolved()
    device = pick_device(cfg.device)
    arch = cfg.architecture()
    meter = MemoryMeter(device)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    baseline = meter.current()
    load_before = _load_average()
    meter.reset()
    t0 = time.perf_counter()
    if model is None:
        model = Transformer(arch, dtype=cfg.dtype, device=device, seed=cfg.seed, moe_impl=cfg.moe_impl)
    else:
        _check_model(model, cfg)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    build_s = time.perf_counter() - t0
    build_peak, after_build = meter.peak(), meter.current()

    warmup_s = 0.0
    if cfg.warmup:
        # A short decode of the same kind (one block / a few tokens): library start-up, kernel
        # selection and allocator growth stay out of the measured run.
        t1 = time.perf_counter()
        # Same shapes, fewest forwards: a schedule committing the whole block in one step (a
        # threshold rule on random weights would take B steps here).
        block = int(cfg.block_size or 32)
        small = replace(cfg, max_denoising_steps=min(cfg.max_denoising_steps, 2),
                        commit_rule="none" if cfg.mode == "ar" else "schedule", tokens_per_step=block)
        warm_gen = min(cfg.gen_len, 4) if cfg.mode == "ar" else block
        _decode(small, Engine(model), _prompt(model, cfg.batch, cfg.prompt_len, cfg.seed + 2),
                warm_gen, _generator(device, cfg.seed + 3), None)
        warmup_s = time.perf_counter() - t1

    run_started = time.perf_counter()
    state = {"tokens_done": 0}
    tokens_total = cfg.gen_len

    def on_tokens(done: int) -> None:
        state["tokens_done"] = done

    def on_pass(_p: PassRecord) -> None:
        if progress is not None:
            progress({"forwards": len(engine.passes), "tokens_done": state["tokens_done"],
                      "tokens_total": tokens_total, "elapsed_s": time.perf_counter() - run_started})

    engine = Engine(model, on_pass=on_pass)
    prompt = _prompt(model, cfg.batch, cfg.prompt_len, cfg.seed + 1)
    generator = _generator(device, cfg.seed + 4)
    model.last_cache_nbytes = 0
    decode_start = meter.current()
    meter.reset()
    run_started = time.perf_counter()
    result = _decode(cfg, engine, prompt, cfg.gen_len, generator, on_tokens)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - run_started
    decode_peak = meter.peak()

    passes = engine.passes
    kinds = _kind_times(passes)
    forward_s = sum(p.seconds for p in passes)
    prefill_s = kinds.get("prefill", {}).get("total_s", 0.0)
    generated = int(result.tokens.shape[1])
    denoising = sum(kinds.get(k, {}).get("count", 0) for k in DENOISING_KINDS)
    tokens = result.tokens.detach().to("cpu", torch.int64).contiguous()
    params = count_params(arch)
    record: dict[str, Any] = {
        "record_version": RECORD_VERSION,
        "started_at": started,
        "config": cfg.to_dict(),
        "architecture": arch.to_dict(),
        "params": {"total": params["total"], "active": params["active"], "built": model.n_params,
                   "weights_bytes": model.weights_bytes},
        "device": device_info(device),
        "batch": cfg.batch,
        "prompt_len": cfg.prompt_len,
        "gen_len_requested": cfg.gen_len,
        "tokens_generated": generated,  # per sequence; whole blocks are decoded
        "wall_s": wall,
        "tokens_per_s": cfg.batch * generated / wall,
        "prefill_s": prefill_s,
        "decode_tokens_per_s": cfg.batch * generated / max(wall - prefill_s, 1e-12),
        "forwards": {"total": len(passes), **{k: v["count"] for k, v in kinds.items()}},
        "time_by_kind": kinds,
        "forward_time_s": forward_s,
        "host_overhead_s": wall - forward_s,  # sampling, commit rules, Python between forwards
        "blocks": len(result.steps_per_block),
        "steps_per_block": result.steps_per_block,
        "tokens_per_forward": (generated / denoising) if denoising else (generated / max(len(passes), 1)),
        "tokens_per_forward_all": generated / max(len(passes), 1),
        "accepted_per_step_mean": (sum(result.accepted_per_step) / len(result.accepted_per_step)
                                   if result.accepted_per_step else None),
        "experts": None if not arch.is_moe else {
            "n_experts": arch.n_experts, "top_k": arch.n_experts_active,
            "moe_layers": arch.ffn_types().count("moe"),
            "by_kind_and_tokens": _expert_summary(passes, arch.n_experts, arch.n_experts_active)},
        "memory": {
            "method": meter.method,
            "baseline_bytes": baseline,
            "build_peak_bytes": build_peak,
            "after_build_bytes": after_build,
            "decode_start_bytes": decode_start,
            "decode_peak_bytes": decode_peak,
            "decode_peak_over_start_bytes": decode_peak - decode_start,
            # The robust CPU figure: resident growth since before the model was built (a delta
            # from decode start can hide pages the warm-up freed and the decode reused).
            "decode_peak_over_baseline_bytes": decode_peak - baseline,
            "weights_bytes": model.weights_bytes,
            "kv_cache_bytes": model.last_cache_nbytes,  # allocated by the measured decode
        },
        # Other processes on the host distort CPU timings; a 1-minute load above the thread
        # count at either end marks a run to distrust.
        "host_load_avg_1m": {"before": load_before, "after": _load_average()},
        "build_s": build_s,
        "warmup_s": warmup_s,
        "output_digest": hashlib.sha256(tokens.numpy().tobytes()).hexdigest(),
        "contains_mask_token": bool((tokens == model.mask_id).any()),
        "notes": _notes(cfg, arch),
    }
    if cfg.record_passes:
        record["passes"] = [p.to_dict() for p in passes]
    if cfg.record_tokens:
        record["output_tokens"] = tokens.tolist()
    return record


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None


def _notes(cfg: RunConfig, arch) -> list[str]:
    notes = list(arch.derived)
    notes.append("KV cache: every layer allocated for the full length (sliding layers read only their window)")
    if cfg.mode != "ar":
        notes.append("tokens_per_forward counts denoising forwards only (prefill/commit excluded), "
                     "as DiffusionGemma reports it; tokens_per_forward_all counts every forward")
    if cfg.batch > 1 and cfg.mode != "ar":
        notes.append("rows that finish a block early keep running with the batch until all are done")
    return notes


# --- pass grid --------------------------------------------------------------------------------
def time_passes(config: RunConfig | Mapping[str, Any], grid: Iterable[Mapping[str, Any]], *,
                model: Transformer | None = None, reps: int = 3,
                progress: Callable[[int, int], None] | None = None,
                deadline: float | None = None) -> list[dict[str, Any]]:
    """Time single forwards over a grid of shapes; one record per grid point.

    grid points: {"kind": prefill | ar_step | diffusion_step | commit | full | prefix_step,
    "queries": new tokens per sequence, "context": committed cache rows, "batch": sequences}.
    Each point runs once to warm up, then `reps` times; the cache is filled by setting its
    length (timings do not depend on the cached values). `deadline` (time.perf_counter() value)
    stops early, returning the points done.
    """
    cfg = RunConfig.from_any(config).resolved()
    device = pick_device(cfg.device)
    if model is None:
        model = build_model(cfg)
    else:
        _check_model(model, cfg)
    meter = MemoryMeter(device)
    points = list(grid)
    out: list[dict[str, Any]] = []
    gen = _generator(device, cfg.seed + 5)
    for i, point in enumerate(points):
        if deadline is not None and time.perf_counter() > deadline:
            break
        kind, q = point["kind"], int(point["queries"])
        ctx, b = int(point.get("context", 0)), int(point.get("batch", 1))
        if kind == "ar_step" and q != 1:
            raise ValueError("ar_step: queries must be 1")
        if kind == "full" and ctx:
            raise ValueError("full: runs without a cache, context must be 0")
        tokens = torch.randint(0, model.pad_id, (b, q), generator=gen, device=device)
        cache = model.new_cache(b, ctx + q) if kind != "full" else None
        # Self-conditioning input: random logits, different per position as a previous step's are
        # (identical rows would make every token route alike).
        sc = (torch.randn(b, q, model.arch.vocab_size, generator=gen, dtype=model.dtype, device=device)
              if model.sc is not None and kind == "diffusion_step" else None)
        engine = Engine(model)

        def once() -> None:
            if cache is not None:
                cache.length = ctx  # fill the cache "for free": rows [0, ctx) count as committed
            if kind == "prefill":
                engine.prefill(cache, tokens, rule="causal", logits="last")  # a chunk after ctx cached rows
            elif kind == "ar_step":
                engine.ar_step(cache, tokens)
            elif kind == "diffusion_step":
                engine.diffusion_step(cache, tokens, self_cond=sc is not None, sc_logits=sc)
            elif kind == "commit":
                engine.commit(cache, tokens)
            elif kind == "full":
                engine.full(tokens)
            elif kind == "prefix_step":
                engine.prefix_step(cache, tokens)
            else:
                raise ValueError(f"kind: one of {', '.join(KINDS)}; got {kind!r}")

        once()  # warm-up for this shape
        meter.reset()
        start_bytes = meter.current()
        engine.passes.clear()
        for _ in range(reps):
            once()
        secs = [p.seconds for p in engine.passes]
        touched = engine.passes[-1].experts_touched
        out.append({
            "kind": kind, "batch": b, "queries": q, "context": ctx, "tokens_routed": b * q,
            "reps": reps, "seconds_min": min(secs), "seconds_median": statistics.median(secs),
            "experts_touched": touched,
            "experts_touched_mean": (sum(touched) / len(touched)) if touched else None,
            "uniform_expectation": (expected_experts_touched(model.arch.n_experts, model.arch.n_experts_active, b * q)
                                    if model.arch.is_moe else None),
            "peak_over_start_bytes": meter.peak() - start_bytes, "memory_method": meter.method,
        })
        del cache, sc
        if progress is not None:
            progress(i + 1, len(points))
    return out
