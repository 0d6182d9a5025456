"""The estimate frame: every output column, its unit, and JSON-safe records of it.

Outputs are in SI units (bytes, seconds, FLOP/s, tokens/s, watts, USD); the NaN rules are in
`pipeline`'s docstring.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from estimator.core import grades, memory as memory_mod, priors as priors_mod
from estimator.core.architecture import DERIVATION_RULES, Coded, ModelArrays, coded, col, nan_to_num
from estimator.core.cost import DEFAULT_USD_PER_KWH, energy_usd_per_mtok, rental_usd_per_mtok
from estimator.core.frames import PRICE_SOURCE_COLUMNS
from estimator.core.passes import BOUND_NAMES, expert_coverage
from estimator.core.preparation import TPF_SENSITIVITY, Prepared
from estimator.core.quality import quality_tiers
from estimator.core.workloads import SlotsTime

# Every output column of `estimate`, its unit and meaning (SI units; NaN rules: module docstring).
# How much wider the error band of a figure is when one of its roofline terms is unknown.
UNKNOWN_TERM_BAND_FACTOR = 2.0

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
    "verdict": "memory.VERDICTS", "verdict_reason": "why (memory.VERDICT_REASONS)",
    "devices_asked": "devices the scenario asked about",
    "configuration_note": "'' or what the figures describe when it is not the device count asked",
    "devices_needed": "smallest tensor-parallel size that fits",
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
    "diffusion_tokens_per_forward": "tokens committed per denoising forward (given, the model's, else 1)",
    "diffusion_tpf_source": "where that tokens per forward comes from",
    **{f"diffusion_tok_s_tpf_x{k:g}": f"diffusion_tok_s with {k:g} x the tokens per forward" for k in TPF_SENSITIVITY},
    "gen_tok_s": "generation tokens/s at `batch` (decode or diffusion)",
    "gen_tok_s_batch1": "generation tokens/s of one request (grades, cost at batch 1)",
    "gen_bound": "memory | compute | overhead", "max_batch": "largest batch that fits",
    "max_batch_tok_s": "tokens/s at max_batch", "max_batch_bound": "memory | compute | overhead",
    "peak_flops": "FLOP/s of the compute dtype", "peak_flops_source": "catalog column used",
    "peak_flops_is_fallback": "the compute dtype's own peak is not published",
    "bandwidth_bytes_s": "bytes/s",
    "vector_peak_flops": "FLOP/s of the vector ALUs (matrix-vector passes, dequantisation)",
    "vector_peak_source": "catalog column of vector_peak_flops ('' = unknown)",
    "decode_compute_known": "the decode's compute term has a published peak (else memory-only, an upper bound)",
    "eff_m": "prior or calibration", "eff_c": "prior or calibration",
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
    "rental_provider": "provider of the rental price ('' = none)", "rental_tier": "on-demand | spot | reserved",
    "rental_as_of": "date the rental price was published", "rental_gpu_count": "GPUs of the offer priced per GPU-hour",
    "api_provider": "provider of the API price", "api_as_of": "date the API price was published",
}

# How output_columns gives its text columns (the values read the same whichever):
#   "categorical" - pd.Categorical: a frame of many rows (codes, not strings);
#   "objects"     - object arrays: a request of a few rows (a categorical costs more than its estimate);
#   "codes"       - `Coded` (codes into labels; Coded.values are the "objects" arrays): a table kept
#                   whole and shown a page at a time never needs the other two for most rows.
Text = pd.Categorical | np.ndarray | Coded


def _labels(codes: np.ndarray, categories, text: str) -> Text:
    """Codes into a few labels (-1: missing; NaN as an object) as `text` says."""
    if text == "categorical":
        return pd.Categorical.from_codes(codes, categories=list(categories))
    labels = np.append(np.asarray(list(categories), dtype=object), np.nan)
    if text == "codes":
        return Coded(np.asarray(codes, dtype=np.intp), labels)
    return labels[np.asarray(codes, dtype=np.intp)]


def _coded_text(values: Coded, text: str) -> Text:
    return values.categorical() if text == "categorical" else values if text == "codes" else values.values


def _derived_text(m: ModelArrays, text: str = "categorical") -> Text:
    """Which documented derivation rules (architecture.DERIVATION_RULES) each row's figures used."""
    names = [name for name in DERIVATION_RULES if name in m.derived]
    code = np.zeros(len(m.n_layers), dtype=np.int64)
    for bit, name in enumerate(names):
        code |= m.derived[name].astype(np.int64) << bit
    distinct, inverse = np.unique(code, return_inverse=True)
    labels = [",".join(n for bit, n in enumerate(names) if c >> bit & 1) for c in distinct]
    if text == "codes":
        return Coded(inverse.ravel(), np.array(labels, dtype=object))
    if text == "objects":
        return np.array(labels, dtype=object)[inverse.ravel()]
    return pd.Categorical.from_codes(inverse.ravel(), categories=pd.Index(labels, dtype=object).unique()) \
        if len(set(labels)) == len(labels) else pd.Categorical(np.array(labels, dtype=object)[inverse.ravel()])


def _text(frame: pd.DataFrame, name: str, text: str) -> Text:
    """A text column of the scenario frame ('' where absent or missing), as `text` says."""
    return _coded_text(coded(frame, name), text)


def _tpf_sources(frame: pd.DataFrame, m: ModelArrays, text: str) -> Text:
    """Per diffusion row, where its tokens per forward comes from (constants.json diffusion sources)."""
    if not m.is_diffusion.any():  # a table of autoregressive models: nothing to say
        return _labels(np.full(len(m.is_diffusion), 0), [""], text)
    table = priors_mod.load_constants()["diffusion"].get("tokens_per_forward_sources", {})
    slugs = coded(frame, "model_slug")
    known = slugs.map(lambda u: [table.get(str(s), "") for s in u])
    said = np.where(known != "", known,
                    np.where(np.isnan(m.tokens_per_forward), "no published figure: 1 token per forward assumed",
                             "the catalog row's (or the request's) tokens_per_forward"))
    sources = np.where(m.is_diffusion, said, "")
    return pd.Categorical(sources) if text == "categorical" else np.asarray(sources, dtype=object)


def output_columns(frame: pd.DataFrame, prep: Prepared, eff: priors_mod.Efficiencies, t_fixed: np.ndarray,
                   t: dict[str, SlotsTime], configuration: str, *, categorical: bool = True,
                   codes: bool = False) -> dict[str, Any]:
    """Every output column (OUTPUT_COLUMNS) from the prepared frame and its times: name -> array.

    configuration="verdict": a configuration that cannot run (no fit, unsupported) gets no speed
    figures, and so no cost per token. An unknown fit keeps its figures (a device with a bandwidth
    always gets a decode speed; `verdict_reason` says why the fit is unknown).
    Text columns as categoricals, object arrays (not `categorical`) or `Coded` (`codes`): see `Text`.
    """
    text = "codes" if codes else "categorical" if categorical else "objects"
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
        diffusion_bound = np.where(is_dif, dif.bound, -1)
        gen_tok_s_1 = np.where(is_dif, gen / t["diffusion1"].total, decode1_tok_s)
        batch_tok_s = np.where(is_dif, b_eval * gen / t["diffusion_max_batch"].total, batch_tok_s)
        batch_bound = np.where(is_dif, t["diffusion_max_batch"].bound, batch_bound)
        gen_bound = np.where(is_dif, dif.bound, dec.bound)
        dif_flops, dif_bytes, dif_passes = (np.where(is_dif, v, np.nan) for v in (dif.flops, dif.traffic, dif.passes))
    else:
        dif_flops = dif_bytes = dif_passes = nan
        diffusion_tok_s = diffusion_s = diffusion_e2e = nan
        diffusion_bound = np.full(len(frame), -1)
        gen_tok_s_1 = decode1_tok_s
        gen_bound = dec.bound
    batch_tok_s = np.where(prep.max_batch >= 1, batch_tok_s, np.nan)
    verdict_code = prep.verdict_code
    decode_pass_s, prefill_s = dec.total, pre.total
    ttft_s = pre.total + t["first_token"].total
    dead = np.zeros(len(frame), dtype=bool)
    if configuration == "verdict":
        # A configuration that cannot run has no speed: neither rates nor times (TTFT included).
        dead = (verdict_code == memory_mod.NO_FIT) | (verdict_code == memory_mod.UNSUPPORTED)
        (decode_tok_s, prefill_tok_s, diffusion_tok_s, diffusion_e2e, gen_tok_s_1, batch_tok_s,
         decode_pass_s, prefill_s, ttft_s, diffusion_s) = (
            np.where(dead, np.nan, a) for a in
            (decode_tok_s, prefill_tok_s, diffusion_tok_s, diffusion_e2e, gen_tok_s_1, batch_tok_s,
             decode_pass_s, prefill_s, ttft_s, diffusion_s))
    gen_tok_s = np.where(is_dif, diffusion_tok_s, decode_tok_s)

    def named_bound(codes, tok_s) -> pd.Categorical | np.ndarray:
        # A figure that is not computed (no fit, unknown peak) has no bound either.
        codes = np.where(np.isnan(tok_s), -1, np.asarray(codes, dtype=np.int64))
        return _labels(codes, BOUND_NAMES, text)

    gen_bound = named_bound(gen_bound, gen_tok_s)
    diffusion_bound = named_bound(diffusion_bound, diffusion_tok_s)

    grade = _labels(*grades.configuration_grades(grades.grade_codes(gen_tok_s_1, verdict_code), prep.n_devices), text)
    given_tier = coded(frame, "quality_tier")
    missing_tier = np.isin(given_tier.codes, np.flatnonzero(given_tier.uniques == ""))
    if missing_tier.any():   # derive from the published perplexity delta (quality.py table)
        tier = given_tier.values
        tier[missing_tier] = quality_tiers(col(frame, "ppl_delta"), col(frame, "bits_per_weight"))[missing_tier]
        tier = pd.Categorical(tier) if text == "categorical" else tier
    else:
        tier = _coded_text(given_tier, text)
    power = col(frame, "tdp_w") * prep.n_devices
    kwh = col(frame, "usd_per_kwh", DEFAULT_USD_PER_KWH)
    rental_h = col(frame, "rental_usd_per_hour") * prep.n_devices

    out = {
        **{name: _text(frame, name, text) for name in ("model_name", "quant_name", "device_name",
                                                              "model_slug", "quant_slug")},
        "device_slug": _coded_text(prep.device_slug, text), "runtime": _coded_text(prep.runtime, text),
        "generation_mode": _labels(is_dif.astype(np.int8), ["autoregressive", "block_diffusion"], text),
        "batch": batch, "context": prep.context, "prompt_len": prompt, "gen_len": gen,
        "decode_context": prep.decode_context, "kv_dtype": _text(frame, "kv_dtype", text), "n_devices": prep.n_devices,
        "parallel": _labels(nan_to_num(prep.parallel).astype(np.int8), ["none", "tensor", "layers"], text),
        # memory (bytes)
        "mem_weights_bytes": mem.weights, "mem_weights_embedding_bytes": mem.weights_embedding,
        "mem_weights_dense_bytes": mem.weights_dense, "mem_weights_experts_bytes": mem.weights_experts,
        "mem_vision_bytes": mem.vision, "mem_kv_cache_bytes": mem.kv_cache,
        "mem_activations_bytes": mem.activations, "mem_logits_bytes": mem.logits,
        "mem_overhead_bytes": mem.overhead, "mem_total_bytes": mem.total,
        "mem_usable_bytes": prep.usable, "mem_headroom_bytes": prep.verdict.headroom,
        "verdict": _labels(verdict_code, memory_mod.VERDICTS, text),
        "verdict_reason": _labels(*memory_mod.verdict_reasons(verdict_code, mem.total, prep.usable), text),
        "devices_asked": prep.n_asked,
        "configuration_note": _labels(*grades.configuration_notes(prep.n_devices, prep.n_asked, verdict_code), text),
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
        "derived": _derived_text(m, text),
        "diffusion_flops": dif_flops, "diffusion_bytes": dif_bytes, "diffusion_forwards": dif_passes,
        "diffusion_block_size": np.where(is_dif, prep.block, np.nan),
        "diffusion_steps_per_block": np.where(is_dif, prep.steps, np.nan),
        "diffusion_tokens_per_forward": np.where(is_dif, prep.tokens_per_forward, np.nan),
        "diffusion_tpf_source": _tpf_sources(frame, m, text),
        **{f"diffusion_tok_s_tpf_x{k:g}": (np.where(is_dif & ~dead, batch * gen / t[f"diffusion_tpf_x{k:g}"].total, np.nan)
                                           if f"diffusion_tpf_x{k:g}" in t else nan) for k in TPF_SENSITIVITY},
        "gen_tok_s": gen_tok_s, "gen_tok_s_batch1": gen_tok_s_1, "gen_bound": gen_bound,
        "max_batch": prep.max_batch, "max_batch_tok_s": batch_tok_s, "max_batch_bound": named_bound(batch_bound, batch_tok_s),
        # roofline inputs shown with the figures
        "peak_flops": prep.peak, "peak_flops_source": _coded_text(prep.peak_source, text),
        "peak_flops_is_fallback": prep.peak_is_fallback, "bandwidth_bytes_s": prep.bandwidth,
        "vector_peak_flops": prep.vector_peak, "vector_peak_source": _coded_text(prep.vector_source, text),
        "decode_compute_known": ~np.isnan(dec.compute),
        "eff_m": eff.eff_m, "eff_c": eff.eff_c, "eff_attn": eff.eff_attn, "bw_cap_bytes_s": eff.bw_cap,
        "t_fixed_s": t_fixed,
        "dequant_class": _coded_text(prep.dequant_class, text),
        "prior_group": pd.Categorical(eff.group) if text == "categorical" else np.asarray(eff.group, dtype=object), "calibrated": eff.calibrated,
        # A compute term whose peak is unknown leaves a memory-only figure, an upper bound: its
        # band doubles (docs/estimator.md "Unknown is not zero").
        "error_band": np.where(np.isnan(dec.compute) & ~is_dif, UNKNOWN_TERM_BAND_FACTOR, 1.0)
        * np.where(is_dif, eff.error_band["diffusion"], eff.error_band["decode"]),
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
        **{name: _text(frame, name, text) for name in PRICE_SOURCE_COLUMNS},
    }
    n = len(frame)
    # A figure the same for every row comes as a scalar: a column of its own (as a frame broadcasts it).
    return {name: np.full(n, values) if np.ndim(values) == 0 and not isinstance(values, Coded) else values
            for name, values in out.items()}


def json_values(values: Iterable[Any]) -> list[Any]:
    """Plain Python values JSON can carry: NaN, inf, None and pd.NA -> None; numpy scalars -> Python ones.

    The one NaN -> None rule of the estimator's edges (`json_records`, the API's result objects):
    JSON has no NaN, and an unknown figure is null, never a number.
    """
    out: list[Any] = []
    for value in values:
        if isinstance(value, (float, np.floating)):
            value = float(value)
            out.append(value if math.isfinite(value) else None)
        elif value is None or value is pd.NA or value is pd.NaT:
            out.append(None)
        elif isinstance(value, np.generic):
            out.append(value.item())
        else:
            out.append(value)
    return out


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Records of plain JSON-safe values (`json_values`), one per row.

    Column-wise: each column becomes a list of plain Python values once, then rows are zipped.
    """
    columns: dict[str, list] = {}
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "iub" and not isinstance(series.dtype, pd.CategoricalDtype):
            columns[name] = series.to_numpy().tolist()
        else:
            columns[name] = json_values(series.to_numpy(dtype=object))
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*(columns[n] for n in names))]
