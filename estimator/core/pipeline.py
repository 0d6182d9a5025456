"""The one code path: a scenario frame in, an estimate frame out, column-wise, no per-row loop.

    scenarios(models, quants, devices, **workload)   cross-join -> one row per (model, quant, device)
    estimate(scenarios, priors, calibrations, ...)   every figure, column-wise numpy
    compatibility_matrix(...)                        the two above, plus rental and API prices
    estimate_one(model, quant, device, **workload)   a 1-row frame through the same path -> dict

Inputs use the catalog column names of `schema.py` (catalog units). A scenario frame holds the
model's columns, the quantization's (`family` -> `quant_family`), the device's, the identities
`model_slug/quant_slug/device_slug` (+ `_name`), and the workload columns of `WORKLOAD_DEFAULTS`.
Outputs are in SI units (bytes, seconds, FLOP/s, tokens/s, watts, USD).

Columns that can be NaN (JSON: null; `json_records` cleans them at the edge):
  - every speed/cost figure when the device publishes no bandwidth, or no peak FLOP/s and the
    figure is not a batch-1 decode (`peak_flops` NaN: prefill, TTFT, batched, diffusion);
  - mem_* and verdict 'unknown' when the device's memory is configurable (Apple bins, CPUs) or a
    model shape is missing (e.g. hidden size, needed for the KV cache);
  - diffusion_* for autoregressive models;
  - energy_* without a TDP (Apple), rental_* without a cloud offer, api_usd_per_mtok without an
    API price; devices_needed when no TP size up to 8 fits; layers_on_device unless fits/offload;
  - speed figures of no_fit / unknown / unsupported verdicts (configuration="verdict").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from estimator.core import grades, memory as memory_mod, priors as priors_mod
from estimator.core.architecture import (
    DERIVATION_RULES, Coded, ModelArrays, coded, col, flag, map_combinations, model_arrays,
)
from estimator.core.cost import (
    DEFAULT_USD_PER_KWH, cheapest_api, cheapest_rental, energy_usd_per_mtok, rental_usd_per_mtok,
)
from estimator.core.hardware import (
    FP16_ACCUMULATE_DOUBLES, FP16_ACCUMULATE_RUNTIMES, GGUF_RUNTIMES, PEAK_FALLBACK, device_arrays, peak_flops,
    quant_arrays,
)
from estimator.core.passes import BOUND_NAMES, expert_coverage
from estimator.core.quality import quality_tiers
from estimator.core.schema import DEVICE_COLUMNS, MODEL_COLUMNS, QUANT_COLUMNS
from estimator.core.units import GB, GIB, KV_DTYPE_BYTES, TERA
from estimator.core.workloads import (
    PARALLEL_LAYERS, PARALLEL_MODES, PARALLEL_NONE, PARALLEL_TENSOR, Execution, Reduced, SlotsTime,
    decode_slots, diffusion_slots, prefill_slots, reduce, reduced_time, steps_per_block, with_working,
)

# Workload columns and their defaults. NaN means "derive": prompt_len = context - gen_len,
# decode_context = prompt_len + prefill_depth (decoding right after the prompt, i.e. with the
# context nearly full: the honest figure "at this context"), block_size / tokens_per_forward from
# the model, prefill_chunk from the runtime (priors constants), steps_per_block from TPF.
WORKLOAD_DEFAULTS: dict[str, Any] = {
    "runtime": "",                    # "" = default for the format and device kind (priors constants)
    "batch": 1,
    "context": 4096,                  # tokens the KV cache holds (per sequence)
    "prompt_len": np.nan,
    "gen_len": 256,
    "decode_context": np.nan,
    "prefill_depth": 0,               # tokens already cached before the prompt (llama-bench ppN@dD)
    "kv_dtype": "fp16",               # units.KV_DTYPE_BYTES
    "n_devices": 1,
    "parallel": "auto",               # auto | none | tensor | layers (llama.cpp's split)
    "image_input": False,
    "block_size": np.nan,
    "tokens_per_forward": np.nan,
    "steps_per_block": np.nan,
    "diffusion_cache": "dual",        # family A: none | prefix | dual (Fast-dLLM)
    "prefill_chunk": np.nan,
    "host_memory_gb": 64.0,           # host RAM for partial offload
    "host_memory_bandwidth_gbs": 60.0,  # dual-channel DDR5 as read by a CPU
    "host_tflops": 1.0,               # CPU FP32 throughput for offloaded layers
    "usd_per_kwh": DEFAULT_USD_PER_KWH,
}

# Every output column of `estimate`, its unit and meaning (SI units; NaN rules: module docstring).
OUTPUT_COLUMNS: dict[str, str] = {
    "model_name": "catalog name", "quant_name": "catalog name", "device_name": "catalog name",
    "model_slug": "catalog slug", "quant_slug": "catalog slug", "device_slug": "catalog slug",
    "runtime": "runtime slug used (given, or the default for the format and device kind)",
    "generation_mode": "autoregressive | block_diffusion",
    "batch": "sequences decoded together", "context": "tokens the KV cache holds per sequence",
    "prompt_len": "prompt tokens (prefill, TTFT)", "gen_len": "generated tokens (diffusion canvas)",
    "decode_context": "tokens cached when the decode speed is measured", "kv_dtype": "KV-cache dtype",
    "n_devices": "devices the speed figures use (the verdict's)", "parallel": "none | tensor | layers",
    "mem_weights_bytes": "bytes, every expert resident", "mem_weights_embedding_bytes": "bytes",
    "mem_weights_dense_bytes": "bytes", "mem_weights_experts_bytes": "bytes",
    "mem_vision_bytes": "bytes (image input only)", "mem_kv_cache_bytes": "bytes, all sequences",
    "mem_activations_bytes": "bytes of the largest pass, MoE dispatch included",
    "mem_logits_bytes": "bytes of fp32 logits (+ DiffusionGemma self-conditioning)",
    "mem_overhead_bytes": "bytes of runtime context/workspace", "mem_total_bytes": "bytes",
    "mem_usable_bytes": "bytes the device lets a model use", "mem_headroom_bytes": "usable - total",
    "verdict": "memory.VERDICTS", "devices_needed": "smallest tensor-parallel size that fits",
    "layers_on_device": "layers on the device (fits: all; offload: how many)",
    "format_supported": "the format has kernels for this device kind",
    "decode_tok_s": "AR decode tokens/s at `batch` (all sequences)", "decode_pass_s": "s per decode step",
    "decode_bound": "memory | compute | overhead", "decode_compute_s": "s", "decode_memory_s": "s",
    "decode_overhead_s": "s (fixed + communication)",
    "decode_flops": "FLOPs of one decode step (whole batch, all devices)",
    "decode_bytes": "bytes one decode step reads and writes (weights, KV, logits)",
    "experts_touched_frac": "share of routed experts a decode step reads",
    "prefill_tok_s": "prompt tokens/s", "prefill_s": "s", "prefill_bound": "memory | compute | overhead",
    "prefill_flops": "FLOPs of the whole prefill", "prefill_bytes": "bytes of the whole prefill",
    "prefill_passes": "forward passes (chunks) of the prefill",
    "ttft_s": "s to the first token: prefill + one decode pass",
    "diffusion_tok_s": "generated tokens/s of block-diffusion decoding (prefill excluded)",
    "diffusion_s": "s to denoise gen_len tokens", "diffusion_e2e_tok_s": "tokens/s including prefill",
    "diffusion_bound": "memory | compute | overhead", "derived": "documented derivation rules used",
    "diffusion_flops": "FLOPs of denoising gen_len tokens (steps and commits)",
    "diffusion_bytes": "bytes of denoising gen_len tokens (steps and commits)",
    "diffusion_forwards": "forward passes to denoise gen_len tokens (steps and commits)",
    "diffusion_block_size": "tokens", "diffusion_steps_per_block": "denoising passes per block",
    "gen_tok_s": "generation tokens/s at `batch` (decode or diffusion)",
    "gen_tok_s_batch1": "generation tokens/s of one request (grades, cost at batch 1)",
    "gen_bound": "memory | compute | overhead", "max_batch": "largest batch that fits",
    "max_batch_tok_s": "tokens/s at max_batch", "max_batch_bound": "memory | compute | overhead",
    "peak_flops": "FLOP/s of the compute dtype", "peak_flops_source": "catalog column used",
    "peak_flops_is_fallback": "the compute dtype's own peak is not published",
    "bandwidth_bytes_s": "bytes/s", "eff_m": "prior or calibration", "eff_c": "prior or calibration",
    "eff_attn": "prior or calibration", "bw_cap_bytes_s": "prior (inf when calibrated)",
    "t_fixed_s": "s per pass", "dequant_class": "weight-format class (priors tables)",
    "prior_group": "runtime|kind group used, or 'calibration'", "calibrated": "bool",
    "error_band": "relative error of the speed figure (prior LODO median or calibration CV)",
    "error_band_prefill": "relative error of prefill figures", "grade": "grades.GRADES",
    "quality_tier": "quality.QUALITY_TIERS", "power_w": "TDP x devices",
    "energy_usd_per_mtok": "USD per 1M generated tokens at batch 1",
    "energy_usd_per_mtok_max_batch": "USD per 1M tokens at max_batch", "rental_usd_per_hour": "USD/h (all devices)",
    "rental_usd_per_mtok": "USD per 1M tokens at batch 1", "rental_usd_per_mtok_max_batch": "USD",
    "api_usd_per_mtok": "cheapest API price for the model, 70/30 blend",
}

_MODEL_KEEP = [c for c in MODEL_COLUMNS if c not in ("slug", "name")]
_QUANT_KEEP = [c for c in QUANT_COLUMNS if c not in ("slug", "name", "family")]
_DEVICE_KEEP = [c for c in DEVICE_COLUMNS if c not in ("slug", "name")]
_EXTRA_DEVICE = ["shader_fp16_tflops"]
_EXTRA_QUANT = ["native_device_kinds"]


_NUMERIC = {name for schema in (MODEL_COLUMNS, QUANT_COLUMNS, DEVICE_COLUMNS) for name, kind in schema.items()
            if kind in ("float", "int")} | {"shader_fp16_tflops"}


def _part(frame: pd.DataFrame, keep: list[str], renames: dict[str, str], extra: list[str]) -> pd.DataFrame:
    n = len(frame)
    data: dict[str, Any] = {}
    for source, target in renames.items():
        data[target] = frame[source].to_numpy() if source in frame else np.full(n, "", dtype=object)
    for column in keep + extra:
        if column not in frame:
            data[column] = np.full(n, np.nan)
        elif column in _NUMERIC and frame[column].dtype == object:
            # None-filled catalog columns arrive as objects: make them floats while still small.
            data[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        else:
            data[column] = frame[column].to_numpy()
    if "native_device_kinds" in data:
        data["native_device_kinds"] = _native_kinds_text(pd.Series(data["native_device_kinds"], dtype=object)).to_numpy()
    return pd.DataFrame(data, copy=False)


def scenarios(models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame, **workload: Any) -> pd.DataFrame:
    """Cross-join models x quants x devices (catalog columns) and add the workload columns.

    A workload value may be a scalar (every row) or an array of the cross-join's length.
    """
    parts = [
        _part(models, _MODEL_KEEP, {"slug": "model_slug", "name": "model_name", "family": "model_family"}, []),
        _part(quants, _QUANT_KEEP, {"slug": "quant_slug", "name": "quant_name", "family": "quant_family"}, _EXTRA_QUANT),
        _part(devices, _DEVICE_KEEP, {"slug": "device_slug", "name": "device_name"}, _EXTRA_DEVICE),
    ]
    n_m, n_q, n_d = (len(p) for p in parts)
    # Row r of the cross-join takes model r // (n_q*n_d), quant (r // n_d) % n_q, device r % n_d:
    # repeat/tile, which copy blocks, rather than a gather per column.
    spread = (
        lambda v: np.repeat(v, n_q * n_d),
        lambda v: np.tile(np.repeat(v, n_d), n_m),
        lambda v: np.tile(v, n_m * n_q),
    )
    columns: dict[str, Any] = {}
    for part, expand in zip(parts, spread):
        for name in part.columns:
            values = part[name]
            if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
                # Strings stay categorical: only the small integer codes are spread.
                codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
                columns[name] = pd.Categorical.from_codes(expand(codes.astype(np.int32)),
                                                          categories=pd.Index(uniques, dtype=object))
            else:
                columns[name] = expand(values.to_numpy())
    frame = pd.DataFrame(columns, copy=False)
    return with_workload(frame, **workload)


def paired_scenarios(models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame, **workload: Any) -> pd.DataFrame:
    """Row i of each of three equally long frames makes scenario i (measured runs, API requests)."""
    if not len(models) == len(quants) == len(devices):
        raise ValueError("paired_scenarios needs frames of equal length")
    parts = [
        _part(models, _MODEL_KEEP, {"slug": "model_slug", "name": "model_name", "family": "model_family"}, []),
        _part(quants, _QUANT_KEEP, {"slug": "quant_slug", "name": "quant_name", "family": "quant_family"}, _EXTRA_QUANT),
        _part(devices, _DEVICE_KEEP, {"slug": "device_slug", "name": "device_name"}, _EXTRA_DEVICE),
    ]
    return with_workload(pd.concat(parts, axis=1), **workload)


def with_workload(frame: pd.DataFrame, **workload: Any) -> pd.DataFrame:
    """Add (or overwrite) workload columns, defaults for those not given."""
    unknown = set(workload) - set(WORKLOAD_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown workload parameter(s): {sorted(unknown)}")
    frame = frame.copy() if any(k in frame for k in workload) else frame
    for name, default in WORKLOAD_DEFAULTS.items():
        value = workload[name] if name in workload else (None if name in frame else default)
        if value is None and name in frame:
            continue
        if isinstance(value, str):
            # One string for every row: a one-category column costs nothing per row.
            value = pd.Categorical.from_codes(np.zeros(len(frame), dtype=np.int8), categories=[value])
        frame[name] = value
    return frame


def with_prices(frame: pd.DataFrame, *, cloud_offers: pd.DataFrame | None = None,
                api_prices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add the cost figures' prices by slug: the cheapest rental $/h per device, the cheapest API $/1M tokens per model.

    cloud_offers: rows with device_slug, usd_per_hour, gpu_count; api_prices: rows with
    model_slug, usd_per_1m_input, usd_per_1m_output. A row whose slug has no offer or price (an
    inline object's slug is '') gets NaN. Writes the columns into `frame` and returns it.
    """
    if cloud_offers is not None and len(cloud_offers):
        rental = cheapest_rental(cloud_offers)
        frame["rental_usd_per_hour"] = _by_slug(frame["device_slug"], rental["device_slug"], rental["usd_per_hour_per_device"])
    if api_prices is not None and len(api_prices):
        api = cheapest_api(api_prices)
        frame["api_usd_per_mtok"] = _by_slug(frame["model_slug"], api["model_slug"], api["api_usd_per_mtok"])
    return frame


def _by_slug(slugs: pd.Series, keys: pd.Series, values: pd.Series) -> np.ndarray:
    """values[keys == slug] for each slug (NaN where none), mapped once per distinct slug."""
    table = dict(zip(keys, values))
    if isinstance(slugs.dtype, pd.CategoricalDtype):
        # A cross-join's slugs are categorical: map the categories, gather by code (-1 -> NaN).
        per_category = pd.Series(slugs.cat.categories, dtype=object).map(table).to_numpy(dtype=np.float64)
        return np.append(per_category, np.nan)[slugs.cat.codes.to_numpy()]
    return slugs.astype(object).map(table).to_numpy(dtype=np.float64)


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


def _native_kinds_text(values: pd.Series) -> pd.Series:
    """Lists of device kinds -> ',gpu,apple,' (one string per quantization, before the join)."""
    return values.map(lambda v: "," + ",".join(v) + "," if isinstance(v, (list, tuple)) else "")


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
    mem: memory_mod.MemoryBreakdown
    verdict: memory_mod.Verdict
    verdict_code: np.ndarray     # index into memory.VERDICTS
    supported: np.ndarray
    usable: np.ndarray
    bandwidth: np.ndarray
    peak: np.ndarray
    peak_source: Coded
    peak_is_fallback: np.ndarray  # the compute dtype's own peak is not published: a slower one stands in
    dequant_class: Coded
    device_fraction: np.ndarray
    max_batch: np.ndarray
    # Workload terms; diffusion ones only for the diffusion rows: (terms, row index) pairs.
    reduced: dict[str, Reduced | tuple[Reduced, np.ndarray]]


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
    batch = np.maximum(col(frame, "batch", 1.0), 1.0)
    context = col(frame, "context", 4096.0)
    gen = col(frame, "gen_len", 256.0)
    prompt = col(frame, "prompt_len")
    prompt = np.where(np.isnan(prompt), np.maximum(context - gen, 1.0), prompt)
    depth = np.nan_to_num(col(frame, "prefill_depth", 0.0))
    decode_ctx = col(frame, "decode_context")
    decode_ctx = np.where(np.isnan(decode_ctx), prompt + depth, decode_ctx)
    kv_b = _lookup(KV_DTYPE_BYTES, coded(frame, "kv_dtype"), np.nan)
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
    steps = steps_per_block(block, tpf, col(frame, "steps_per_block"))
    cache = coded(frame, "diffusion_cache")
    image = flag(frame, "image_input")
    dq_class = priors_mod.dequant_class(coded(frame, "quant_name"), q.family, col(frame, "bits_per_weight"))
    is_llama_cpp = base_rt.isin(GGUF_RUNTIMES)
    compute_dtype = q.compute_dtype
    if is_llama_cpp.any():
        low = compute_dtype.isin(("fp4", "fp8", "int8")) & is_llama_cpp
        compute_dtype = Coded(np.where(low, len(compute_dtype.uniques), compute_dtype.codes),
                              np.append(compute_dtype.uniques, "fp16"))
    peak, peak_source = peak_flops(frame, compute_dtype)
    fp16_acc = base_rt.isin(FP16_ACCUMULATE_RUNTIMES) & compute_dtype.map(
        lambda u: [d == "fp16" for d in u], dtype=bool) & peak_source.eq("fp16_tflops")
    if fp16_acc.any():
        doubles = coded(frame, "device_name").map(
            lambda u: [any(tag in name for tag in FP16_ACCUMULATE_DOUBLES) for name in u], dtype=bool)
        peak = np.where(fp16_acc & doubles, 2.0 * peak, peak)
    bpw = q.bytes_per_weight

    # Memory and verdict.
    overhead = _lookup(constants["memory_overhead_gb"], kind, constants["memory_overhead_gb"]["*"]) * GIB
    # Tokens (and logit rows) of a sequence's largest diffusion pass. Family A runs FULL forwards
    # over prompt + canvas with logits for every row: every step without a cache, and the
    # refresh at each block start with a prefix or dual cache (DIFFUSION.md 1.2, 2.1, 4).
    diffusion_tokens = np.where(m.diffusion_full_attention, prompt + gen, block)
    pass_tokens = np.fmax(np.minimum(prompt, chunk), batch)
    pass_tokens = np.where(m.is_diffusion, np.fmax(pass_tokens, batch * diffusion_tokens), pass_tokens)
    logits_rows = np.where(m.is_diffusion, batch * diffusion_tokens, batch)
    # Family A without a cache (vanilla LLaDA) re-runs the whole canvas every step and keeps no KV
    # cache; a prefix or dual cache holds prompt + canvas (DIFFUSION.md 4).
    kv_context = np.where(m.diffusion_full_attention & cache.eq("none"), 0.0, context)
    mem = memory_mod.memory_breakdown(m, bpw, kv_b, batch=batch, context=kv_context, pass_tokens=pass_tokens,
                                      logits_rows=logits_rows, overhead=overhead, image_input=image)
    supported = _format_supported(frame, kind)
    host_memory = col(frame, "host_memory_gb", 64.0) * GIB
    # Offload needs host RAM apart from the device's: discrete GPUs, not unified memory parts.
    unified = np.nan_to_num(col(frame, "usable_memory_fraction"), nan=1.0) < 1.0
    offload_possible = kind.isin(memory_mod.OFFLOAD_KINDS) & ~unified
    verdict = memory_mod.verdict(mem, m, dev.usable_memory, offload_possible, kind.isin(memory_mod.MULTI_DEVICE_KINDS),
                                 host_memory, max_devices=max_devices)
    given_fits = mem.per_device(n_dev_given) <= dev.usable_memory
    verdict_code = verdict.code.copy()
    verdict_code[(n_dev_given > 1) & given_fits] = memory_mod.FITS
    verdict_code[~supported & (verdict_code != memory_mod.UNKNOWN)] = memory_mod.UNSUPPORTED

    # The configuration whose speed is reported.
    if configuration == "given":
        n_devices, device_fraction, mode = n_dev_given, np.ones(n), parallel
    else:
        multi = verdict_code == memory_mod.MULTI_DEVICE
        n_devices = np.where(multi, verdict.devices_needed, n_dev_given)
        mode = np.where(multi, auto_mode, parallel)
        device_fraction = np.where(verdict_code == memory_mod.OFFLOAD, verdict.device_fraction, 1.0)
    link_known = ~np.isnan(dev.interconnect)
    link = np.where(link_known, dev.interconnect, dev.host_link)
    link = np.where(np.isnan(link), constants["default_link_gbs"] * GB, link)
    latency = np.where(link_known, constants["link_latency_s"]["device_link"], constants["link_latency_s"]["pcie"])
    host = constants["host"]
    ex = Execution(
        peak=peak, vector_peak=col(frame, "fp32_tflops") * TERA, bandwidth=dev.bandwidth, n_layers=m.n_layers, hidden=m.hidden, n_devices=n_devices,
        parallel=mode, link_bandwidth=link, link_latency=latency, device_fraction=device_fraction,
        host_bandwidth=col(frame, "host_memory_bandwidth_gbs", 60.0) * GB,
        host_peak=col(frame, "host_tflops", 1.0) * TERA,
        host_eff_m=np.full(n, host["eff_m"]), host_eff_c=np.full(n, host["eff_c"]),
    )

    # Largest batch that fits: per-sequence KV, decode activations and logits scale with b;
    # the prefill chunk's activations are held once.
    mem1 = memory_mod.memory_breakdown(m, bpw, kv_b, batch=1.0, context=kv_context,
                                       pass_tokens=np.where(m.is_diffusion, diffusion_tokens, 1.0),
                                       logits_rows=np.where(m.is_diffusion, diffusion_tokens, 1.0),
                                       overhead=overhead + mem.activations, image_input=image)
    b_max = memory_mod.max_batch(mem1, dev.usable_memory, n_devices, max_batch_cap)
    b_max = np.where(device_fraction < 1.0, np.minimum(b_max, 1.0), b_max)
    b_eval = np.maximum(b_max, 1.0)

    any_batch = not np.all(batch == 1)
    reduced = {
        "decode": reduce(decode_slots(m, bpw, kv_b, batch=batch, context=decode_ctx), ex),
        "prefill": reduce(prefill_slots(m, bpw, kv_b, prompt=prompt, chunk=chunk, cached=depth), ex),

        "decode_max_batch": reduce(decode_slots(m, bpw, kv_b, batch=b_eval, context=decode_ctx), ex),
    }
    reduced["decode1"] = reduce(decode_slots(m, bpw, kv_b, batch=1.0, context=decode_ctx), ex) if any_batch else reduced["decode"]
    # The first token's pass decodes right after the prompt: the batch-1 decode when they coincide.
    reduced["first_token"] = reduced["decode1"] if np.array_equal(decode_ctx, prompt + depth) else \
        reduce(decode_slots(m, bpw, kv_b, batch=1.0, context=prompt + depth), ex)
    if m.is_diffusion.any():
        # Diffusion passes only for the diffusion rows (a few models of a catalog matrix).
        rows = np.flatnonzero(m.is_diffusion)
        md, exd = m.take(rows), ex.take(rows)

        def diffusion(b):
            return diffusion_slots(md, bpw[rows], kv_b[rows], prompt=prompt[rows], gen=gen[rows], block=block[rows],
                                   steps=steps[rows], batch=b[rows], cache=cache.take(rows).values, chunk=chunk[rows])

        dif_prefill, dif = diffusion(batch)
        reduced["diffusion"] = (reduce(dif, exd), rows)
        reduced["diffusion_prefill"] = (reduce(dif_prefill, exd), rows)
        reduced["diffusion1"] = (reduce(diffusion(np.ones(n))[1], exd), rows) if any_batch else reduced["diffusion"]
        reduced["diffusion_max_batch"] = (reduce(diffusion(b_eval)[1], exd), rows)
    return Prepared(
        m=m, runtime=runtime, kind=kind, device_slug=coded(frame, "device_slug"), batch=batch,
        device_class=map_combinations([kind, coded(frame, "vendor")],
                                      lambda ks, vs: [priors_mod.device_class(k, v) for k, v in zip(ks, vs)], as_coded=True),
        context=context, prompt=prompt, gen=gen, decode_context=decode_ctx, n_devices=n_devices,
        parallel=mode, block=block, steps=steps, mem=mem, verdict=verdict, verdict_code=verdict_code,
        supported=supported, usable=dev.usable_memory, bandwidth=dev.bandwidth, peak=peak,
        peak_source=peak_source, dequant_class=dq_class,
        peak_is_fallback=map_combinations([compute_dtype, peak_source], lambda ds, ps: [
            bool(p) and p != PEAK_FALLBACK[d][0] for d, p in zip(ds, ps)], dtype=bool), device_fraction=device_fraction,
        max_batch=b_max, reduced=reduced,
    )


def times(prep: Prepared, *efficiencies) -> dict[str, SlotsTime]:
    """Seconds of every prepared workload at these efficiencies (`workloads.reduced_time` order).

    Workloads prepared for a subset of rows (diffusion) are timed on it and come back full
    length, NaN elsewhere.
    """
    n = len(prep.batch)
    done: dict[int, SlotsTime] = {}
    out = {}
    for name, red in prep.reduced.items():
        # "decode1" is "decode" when every batch is 1: time the same terms once.
        if id(red) not in done:
            if isinstance(red, tuple):
                terms, rows = red
                part = [e[rows] if np.ndim(e) and np.size(e) == n else e for e in efficiencies]
                done[id(red)] = _expand_time(with_working(reduced_time(terms, *part), terms), rows, n)
            else:
                done[id(red)] = with_working(reduced_time(red, *efficiencies), red)
        out[name] = done[id(red)]
    return out


def _expand_time(t: SlotsTime, rows: np.ndarray, n: int) -> SlotsTime:
    values = {}
    for name in ("total", "compute", "memory", "overhead", "flops", "traffic", "passes"):
        full = np.full(n, np.nan)
        full[rows] = getattr(t, name)
        values[name] = full
    bound = np.zeros(n, dtype=np.int64)
    bound[rows] = t.bound
    return SlotsTime(bound=bound, **values)


def estimate(
    frame: pd.DataFrame,
    priors: dict | None = None,
    calibrations: pd.DataFrame | None = None,
    *,
    configuration: str = "verdict",
    max_devices: int = 8,
    max_batch_cap: int = 256,
) -> pd.DataFrame:
    """Every estimate for every scenario row (see the module docstring for the columns)."""
    priors = priors or priors_mod.load_priors()
    prep = prepare(frame, priors, configuration=configuration, max_devices=max_devices, max_batch_cap=max_batch_cap)
    m = prep.m
    eff = priors_mod.resolve(priors, prep.runtime, prep.device_class, prep.device_slug, calibrations)
    t_fixed = eff.t_fixed_s + eff.t_layer_s * np.nan_to_num(m.n_layers)
    dq = priors_mod.dequant_ops(priors, prep.dequant_class)
    gemm = priors_mod.gemm_factor(priors, prep.dequant_class)
    t = times(prep, eff.eff_m, eff.eff_c, eff.eff_attn, t_fixed, dq, gemm, priors.get("expert_half_tokens", 0.0),
              eff.bw_cap)
    return _outputs(frame, prep, eff, t_fixed, t, configuration)


def _derived_text(m: ModelArrays) -> pd.Categorical:
    """Which documented derivation rules (architecture.DERIVATION_RULES) each row's figures used."""
    names = [name for name in DERIVATION_RULES if name in m.derived]
    code = np.zeros(len(m.n_layers), dtype=np.int64)
    for bit, name in enumerate(names):
        code |= m.derived[name].astype(np.int64) << bit
    distinct, inverse = np.unique(code, return_inverse=True)
    labels = [",".join(n for bit, n in enumerate(names) if c >> bit & 1) for c in distinct]
    return pd.Categorical.from_codes(inverse.ravel(), categories=pd.Index(labels, dtype=object).unique()) \
        if len(set(labels)) == len(labels) else pd.Categorical(np.array(labels, dtype=object)[inverse.ravel()])


def _outputs(frame: pd.DataFrame, prep: Prepared, eff: priors_mod.Efficiencies, t_fixed: np.ndarray,
             t: dict[str, SlotsTime], configuration: str) -> pd.DataFrame:
    m, mem, batch, gen, prompt = prep.m, prep.mem, prep.batch, prep.gen, prep.prompt
    is_dif = m.is_diffusion
    dec, pre = t["decode"], t["prefill"]
    nan = np.full(len(frame), np.nan)
    decode_tok_s = batch / dec.total
    decode1_tok_s = 1.0 / t["decode1"].total
    prefill_tok_s = prompt / pre.total
    b_eval = np.maximum(prep.max_batch, 1.0)
    batch_tok_s = b_eval / t["decode_max_batch"].total
    batch_bound = t["decode_max_batch"].bound
    if "diffusion" in t:
        dif, dif_pre = t["diffusion"], t["diffusion_prefill"]
        diffusion_tok_s = np.where(is_dif, batch * gen / dif.total, np.nan)
        diffusion_s = np.where(is_dif, dif.total, np.nan)
        diffusion_e2e = np.where(is_dif, batch * gen / (dif.total + dif_pre.total), np.nan)
        diffusion_bound = pd.Categorical.from_codes(np.where(is_dif, dif.bound, -1), categories=list(BOUND_NAMES))
        gen_tok_s_1 = np.where(is_dif, gen / t["diffusion1"].total, decode1_tok_s)
        batch_tok_s = np.where(is_dif, b_eval * gen / t["diffusion_max_batch"].total, batch_tok_s)
        batch_bound = np.where(is_dif, t["diffusion_max_batch"].bound, batch_bound)
        gen_bound = pd.Categorical.from_codes(np.where(is_dif, dif.bound, dec.bound), categories=list(BOUND_NAMES))
        dif_flops, dif_bytes, dif_passes = (np.where(is_dif, v, np.nan) for v in (dif.flops, dif.traffic, dif.passes))
    else:
        dif_flops = dif_bytes = dif_passes = nan
        diffusion_tok_s = diffusion_s = diffusion_e2e = nan
        diffusion_bound = pd.Categorical.from_codes(np.full(len(frame), -1), categories=list(BOUND_NAMES))
        gen_tok_s_1 = decode1_tok_s
        gen_bound = pd.Categorical.from_codes(dec.bound, categories=list(BOUND_NAMES))
    batch_tok_s = np.where(prep.max_batch >= 1, batch_tok_s, np.nan)
    verdict_code = prep.verdict_code
    decode_pass_s, prefill_s = dec.total, pre.total
    ttft_s = pre.total + t["first_token"].total
    if configuration == "verdict":
        # A configuration that cannot run has no speed: neither rates nor times (TTFT included).
        dead = np.isin(verdict_code, [memory_mod.NO_FIT, memory_mod.UNKNOWN, memory_mod.UNSUPPORTED])
        (decode_tok_s, prefill_tok_s, diffusion_tok_s, diffusion_e2e, gen_tok_s_1, batch_tok_s,
         decode_pass_s, prefill_s, ttft_s, diffusion_s) = (
            np.where(dead, np.nan, a) for a in
            (decode_tok_s, prefill_tok_s, diffusion_tok_s, diffusion_e2e, gen_tok_s_1, batch_tok_s,
             decode_pass_s, prefill_s, ttft_s, diffusion_s))
    gen_tok_s = np.where(is_dif, diffusion_tok_s, decode_tok_s)

    def named_bound(codes, tok_s) -> pd.Categorical:
        # A figure that is not computed (no fit, unknown peak) has no bound either.
        codes = np.where(np.isnan(tok_s), -1, np.asarray(codes, dtype=np.int64))
        return pd.Categorical.from_codes(codes, categories=list(BOUND_NAMES))

    gen_bound = named_bound(gen_bound.codes, gen_tok_s)
    diffusion_bound = named_bound(diffusion_bound.codes, diffusion_tok_s)

    grade = pd.Categorical.from_codes(grades.grade_codes(gen_tok_s_1, verdict_code), categories=list(grades.GRADES))
    given_tier = coded(frame, "quality_tier")
    missing_tier = np.isin(given_tier.codes, np.flatnonzero(given_tier.uniques == ""))
    if missing_tier.any():   # derive from the published perplexity delta (quality.py table)
        tier = given_tier.values
        tier[missing_tier] = quality_tiers(col(frame, "ppl_delta"), col(frame, "bits_per_weight"))[missing_tier]
        tier = pd.Categorical(tier)
    else:
        tier = given_tier.categorical()
    power = col(frame, "tdp_w") * prep.n_devices
    kwh = col(frame, "usd_per_kwh", DEFAULT_USD_PER_KWH)
    rental_h = col(frame, "rental_usd_per_hour") * prep.n_devices

    out = {
        "model_name": coded(frame, "model_name").categorical(), "quant_name": coded(frame, "quant_name").categorical(),
        "device_name": coded(frame, "device_name").categorical(),
        "model_slug": coded(frame, "model_slug").categorical(), "quant_slug": coded(frame, "quant_slug").categorical(),
        "device_slug": prep.device_slug.categorical(), "runtime": prep.runtime.categorical(),
        "generation_mode": pd.Categorical.from_codes(is_dif.astype(np.int8), categories=["autoregressive", "block_diffusion"]),
        "batch": batch, "context": prep.context, "prompt_len": prompt, "gen_len": gen,
        "decode_context": prep.decode_context, "kv_dtype": coded(frame, "kv_dtype").categorical(), "n_devices": prep.n_devices,
        "parallel": pd.Categorical.from_codes(np.nan_to_num(prep.parallel).astype(np.int8),
                                              categories=["none", "tensor", "layers"]),
        # memory (bytes)
        "mem_weights_bytes": mem.weights, "mem_weights_embedding_bytes": mem.weights_embedding,
        "mem_weights_dense_bytes": mem.weights_dense, "mem_weights_experts_bytes": mem.weights_experts,
        "mem_vision_bytes": mem.vision, "mem_kv_cache_bytes": mem.kv_cache,
        "mem_activations_bytes": mem.activations, "mem_logits_bytes": mem.logits,
        "mem_overhead_bytes": mem.overhead, "mem_total_bytes": mem.total,
        "mem_usable_bytes": prep.usable, "mem_headroom_bytes": prep.verdict.headroom,
        "verdict": pd.Categorical.from_codes(verdict_code, categories=list(memory_mod.VERDICTS)),
        "devices_needed": prep.verdict.devices_needed,
        "layers_on_device": np.where(verdict_code == memory_mod.FITS, m.n_layers,
                                     np.where(verdict_code == memory_mod.OFFLOAD, prep.verdict.layers_on_device, np.nan)),
        "format_supported": prep.supported,
        # speed (tokens/s, seconds) and the bound that names each figure
        "decode_tok_s": decode_tok_s, "decode_pass_s": decode_pass_s, "decode_bound": named_bound(dec.bound, decode_tok_s),
        "decode_compute_s": dec.compute, "decode_memory_s": dec.memory, "decode_overhead_s": dec.overhead,
        "decode_flops": dec.flops / dec.passes, "decode_bytes": dec.traffic / dec.passes,
        "experts_touched_frac": np.where(m.is_moe, expert_coverage(m.n_experts, m.top_k, batch)
                                         / np.maximum(m.n_experts, 1.0), np.nan),
        "prefill_tok_s": prefill_tok_s, "prefill_s": prefill_s, "prefill_bound": named_bound(pre.bound, prefill_tok_s),
        "prefill_flops": pre.flops, "prefill_bytes": pre.traffic, "prefill_passes": pre.passes,
        "ttft_s": ttft_s,
        "diffusion_tok_s": diffusion_tok_s, "diffusion_s": diffusion_s, "diffusion_e2e_tok_s": diffusion_e2e,
        "diffusion_bound": diffusion_bound,
        "derived": _derived_text(m),
        "diffusion_flops": dif_flops, "diffusion_bytes": dif_bytes, "diffusion_forwards": dif_passes,
        "diffusion_block_size": np.where(is_dif, prep.block, np.nan),
        "diffusion_steps_per_block": np.where(is_dif, prep.steps, np.nan),
        "gen_tok_s": gen_tok_s, "gen_tok_s_batch1": gen_tok_s_1, "gen_bound": gen_bound,
        "max_batch": prep.max_batch, "max_batch_tok_s": batch_tok_s, "max_batch_bound": named_bound(batch_bound, batch_tok_s),
        # roofline inputs shown with the figures
        "peak_flops": prep.peak, "peak_flops_source": prep.peak_source.categorical(),
        "peak_flops_is_fallback": prep.peak_is_fallback, "bandwidth_bytes_s": prep.bandwidth,
        "eff_m": eff.eff_m, "eff_c": eff.eff_c, "eff_attn": eff.eff_attn, "bw_cap_bytes_s": eff.bw_cap,
        "t_fixed_s": t_fixed,
        "dequant_class": prep.dequant_class.categorical(),
        "prior_group": pd.Categorical(eff.group), "calibrated": eff.calibrated,
        "error_band": np.where(is_dif, eff.error_band["diffusion"], eff.error_band["decode"]),
        "error_band_prefill": eff.error_band["prefill"],
        "grade": grade, "quality_tier": tier,
        # cost (USD per million generated tokens)
        "power_w": power,
        "energy_usd_per_mtok": energy_usd_per_mtok(power, gen_tok_s_1, kwh),
        "energy_usd_per_mtok_max_batch": energy_usd_per_mtok(power, batch_tok_s, kwh),
        "rental_usd_per_hour": rental_h,
        "rental_usd_per_mtok": rental_usd_per_mtok(rental_h, gen_tok_s_1),
        "rental_usd_per_mtok_max_batch": rental_usd_per_mtok(rental_h, batch_tok_s),
        "api_usd_per_mtok": col(frame, "api_usd_per_mtok"),
    }
    return pd.DataFrame(out, index=frame.index, copy=False)


def compatibility_matrix(
    models: pd.DataFrame,
    quants: pd.DataFrame,
    devices: pd.DataFrame,
    *,
    priors: dict | None = None,
    calibrations: pd.DataFrame | None = None,
    cloud_offers: pd.DataFrame | None = None,
    api_prices: pd.DataFrame | None = None,
    **workload: Any,
) -> pd.DataFrame:
    """Every model x quantization x device at one workload (e.g. context=8192), in one go.

    cloud_offers: rows with device_slug, usd_per_hour, gpu_count (cheapest per device is used);
    api_prices: rows with model_slug, usd_per_1m_input, usd_per_1m_output.
    """
    frame = with_prices(scenarios(models, quants, devices, **workload), cloud_offers=cloud_offers, api_prices=api_prices)
    return estimate(frame, priors, calibrations)


def estimate_one(
    model: Mapping[str, Any],
    quant: Mapping[str, Any],
    device: Mapping[str, Any],
    *,
    priors: dict | None = None,
    calibrations: pd.DataFrame | None = None,
    **workload: Any,
) -> dict[str, Any]:
    """One estimate through the same vectorised path (a 1-row frame), JSON-safe."""
    frame = scenarios(pd.DataFrame([dict(model)]), pd.DataFrame([dict(quant)]), pd.DataFrame([dict(device)]), **workload)
    return json_records(estimate(frame, priors, calibrations))[0]


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Records with NaN/inf replaced by None and numpy scalars by Python ones (safe for JSON).

    Column-wise: each column becomes a list of plain Python values once, then rows are zipped.
    """
    columns: dict[str, list] = {}
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            values = series.astype(object).to_numpy()
            columns[name] = [None if v is None or (isinstance(v, float) and v != v) else v for v in values]
        elif series.dtype.kind == "f":
            values = series.to_numpy(dtype=np.float64)
            finite = np.isfinite(values)
            out = values.astype(object)
            out[~finite] = None
            columns[name] = out.tolist()
        elif series.dtype.kind in "iub":
            columns[name] = series.to_numpy().tolist()
        else:
            values = series.to_numpy(dtype=object)
            columns[name] = [None if v is None or (isinstance(v, float) and not np.isfinite(v)) else
                             (v.item() if isinstance(v, np.generic) else v) for v in values]
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*(columns[n] for n in names))]
