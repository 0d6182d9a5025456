"""The core's result frame as the API's result objects: JSON-safe, nested by section.

`result_records` is the one place a core column gets its API name (`_SPEC`); `flat_record` is a
CSV row. A compatibility table keeps the core's columns and shapes a page's rows with these
(`estimator/services/tables.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from estimator.core.outputs import json_values


def context_within_window(context: pd.Series | np.ndarray, max_context: pd.Series | np.ndarray) -> np.ndarray:
    """Per row: the context fits the model's window (True/False), or None where the window is unknown."""
    context = pd.to_numeric(pd.Series(np.asarray(context)), errors="coerce").to_numpy(dtype=np.float64)
    window = pd.to_numeric(pd.Series(np.asarray(max_context)), errors="coerce").to_numpy(dtype=np.float64)
    within = np.where(context <= window, True, False).astype(object)
    within[np.isnan(window) | np.isnan(context)] = None
    return within


def _as_int(values: list[Any]) -> list[int | None]:
    return [None if v is None else int(v) for v in values]


def _rules(values: list[Any]) -> list[list[str]]:
    """'head_dim,kv_heads' -> ['head_dim', 'kv_heads']: the derivation rules a row used."""
    return [[rule for rule in str(v or "").split(",") if rule] for v in values]


# (section, API field, core column, converter). Section "" = top level.
_SPEC: tuple[tuple[str, str, str, Callable[[list[Any]], list[Any]] | None], ...] = (
    ("workload", "context_tokens", "context", _as_int),
    ("workload", "prompt_tokens", "prompt_len", _as_int),
    ("workload", "gen_tokens", "gen_len", _as_int),
    ("workload", "decode_context_tokens", "decode_context", _as_int),
    ("workload", "batch", "batch", _as_int),
    ("workload", "block_size", "diffusion_block_size", _as_int),
    ("workload", "steps_per_block", "diffusion_steps_per_block", None),
    ("workload", "kv_cache_dtype", "kv_dtype", None),
    ("workload", "device_count", "n_devices", _as_int),
    ("workload", "parallel", "parallel", None),
    ("workload", "devices_asked", "devices_asked", _as_int),
    ("", "verdict", "verdict", None),
    ("", "verdict_reason", "verdict_reason", None),
    ("", "configuration_note", "configuration_note", None),
    ("", "devices_needed", "devices_needed", _as_int),
    ("", "layers_on_device", "layers_on_device", _as_int),
    ("", "format_supported", "format_supported", None),
    ("", "ttft_s", "ttft_s", None),
    ("", "grade", "grade", None),
    ("", "calibrated", "calibrated", None),
    ("", "quality_tier", "quality_tier", None),
    ("", "context_within_window", "context_within_window", None),
    ("memory", "total_bytes", "mem_total_bytes", None),
    ("memory", "weights_bytes", "mem_weights_bytes", None),
    ("memory", "weights_embedding_bytes", "mem_weights_embedding_bytes", None),
    ("memory", "weights_dense_bytes", "mem_weights_dense_bytes", None),
    ("memory", "weights_experts_bytes", "mem_weights_experts_bytes", None),
    ("memory", "vision_bytes", "mem_vision_bytes", None),
    ("memory", "kv_cache_bytes", "mem_kv_cache_bytes", None),
    ("memory", "activations_bytes", "mem_activations_bytes", None),
    ("memory", "logits_bytes", "mem_logits_bytes", None),
    ("memory", "overhead_bytes", "mem_overhead_bytes", None),
    ("memory", "usable_bytes", "mem_usable_bytes", None),
    ("memory", "headroom_bytes", "mem_headroom_bytes", None),
    ("speed", "decode_tokens_per_s", "decode_tok_s", None),
    ("speed", "decode_bound", "decode_bound", None),
    ("speed", "prefill_tokens_per_s", "prefill_tok_s", None),
    ("speed", "prefill_bound", "prefill_bound", None),
    ("speed", "prefill_s", "prefill_s", None),
    ("speed", "diffusion_tokens_per_s", "diffusion_tok_s", None),
    ("speed", "diffusion_end_to_end_tokens_per_s", "diffusion_e2e_tok_s", None),
    ("speed", "diffusion_bound", "diffusion_bound", None),
    ("speed", "diffusion_s", "diffusion_s", None),
    ("speed", "generation_tokens_per_s_batch1", "gen_tok_s_batch1", None),
    ("speed", "max_batch", "max_batch", _as_int),
    ("speed", "max_batch_tokens_per_s", "max_batch_tok_s", None),
    ("speed", "max_batch_bound", "max_batch_bound", None),
    ("cost", "usd_per_kwh", "usd_per_kwh", None),
    ("cost", "power_w", "power_w", None),
    ("cost", "energy_usd_per_mtok", "energy_usd_per_mtok", None),
    ("cost", "energy_usd_per_mtok_max_batch", "energy_usd_per_mtok_max_batch", None),
    ("cost", "rental_usd_per_hour", "rental_usd_per_hour", None),
    ("cost", "rental_usd_per_mtok", "rental_usd_per_mtok", None),
    ("cost", "rental_usd_per_mtok_max_batch", "rental_usd_per_mtok_max_batch", None),
    ("cost", "api_usd_per_mtok", "api_usd_per_mtok", None),
    ("cost", "rental_provider", "rental_provider", None),
    ("cost", "rental_tier", "rental_tier", None),
    ("cost", "rental_as_of", "rental_as_of", None),
    ("cost", "rental_offer_gpu_count", "rental_gpu_count", None),
    ("cost", "api_provider", "api_provider", None),
    ("cost", "api_as_of", "api_as_of", None),
    ("working", "decode_pass_s", "decode_pass_s", None),
    ("working", "decode_compute_s", "decode_compute_s", None),
    ("working", "decode_memory_s", "decode_memory_s", None),
    ("working", "decode_overhead_s", "decode_overhead_s", None),
    ("working", "decode_flops", "decode_flops", None),
    ("working", "decode_bytes", "decode_bytes", None),
    ("working", "prefill_flops", "prefill_flops", None),
    ("working", "prefill_bytes", "prefill_bytes", None),
    ("working", "prefill_passes", "prefill_passes", None),
    ("working", "diffusion_flops", "diffusion_flops", None),
    ("working", "diffusion_bytes", "diffusion_bytes", None),
    ("working", "diffusion_forwards", "diffusion_forwards", None),
    ("working", "tokens_per_forward", "diffusion_tokens_per_forward", None),
    ("working", "tokens_per_forward_source", "diffusion_tpf_source", None),
    ("working", "experts_touched_fraction", "experts_touched_frac", None),
    ("working", "peak_flops", "peak_flops", None),
    ("working", "peak_flops_source", "peak_flops_source", None),
    ("working", "bandwidth_bytes_per_s", "bandwidth_bytes_s", None),
    ("working", "peak_flops_is_fallback", "peak_flops_is_fallback", None),
    ("working", "vector_peak_flops", "vector_peak_flops", None),
    ("working", "vector_peak_source", "vector_peak_source", None),
    ("working", "decode_compute_known", "decode_compute_known", None),
    ("working", "eff_m", "eff_m", None),
    ("working", "eff_c", "eff_c", None),
    ("working", "eff_attn", "eff_attn", None),
    ("working", "bandwidth_cap_bytes_per_s", "bw_cap_bytes_s", None),
    ("working", "t_fixed_s", "t_fixed_s", None),
    ("working", "dequant_class", "dequant_class", None),
    ("working", "prior_group", "prior_group", None),
    ("working", "error_band_prefill", "error_band_prefill", None),
    ("working", "derived", "derived", _rules),
)


# Every core column `result_records` reads: _SPEC's, those `_mode_columns` picks from, the
# identities and the tokens-per-forward sweep (`_tpf_sensitivity`). A `ResultTable` keeps these alone.
_READ = frozenset({
    *(name for _, _, name, _ in _SPEC), "generation_mode", "runtime", "error_band", "error_band_prefill",
    *(f"{what}_{part}" for what in ("decode", "prefill", "diffusion") for part in ("tok_s", "bound")),
    "decode_pass_s", "prefill_s", "diffusion_s", "diffusion_tokens_per_forward",
    *(f"{prefix}_{part}" for prefix in ("model", "quant", "device") for part in ("slug", "name")),
})
_SWEEP = "diffusion_tok_s_tpf_x"


def _shown(name: str) -> bool:
    return name in _READ or name.startswith(_SWEEP)


# A result is the core's estimate frame, or its columns as arrays (`pipeline.estimate_columns`):
# both are read by column name only (`result[name]`, `name in result`).
Result = pd.DataFrame | Mapping[str, Any]


def _mode_columns(result: Result, modes: list[str | None]) -> dict[str, np.ndarray]:
    """The headline figures of each row's mode (default: the model's own generation mode)."""
    diffusion_model = np.asarray(result["generation_mode"] == "block_diffusion")
    mode = np.array([m or "" for m in modes], dtype=object)
    mode = np.where(mode == "", np.where(diffusion_model, "diffusion", "decode"), mode)
    is_prefill, is_diffusion = mode == "prefill", mode == "diffusion"

    def pick(decode: str, prefill: str, diffusion: str) -> np.ndarray:
        return np.where(is_prefill, np.asarray(result[prefill], dtype=object),
                        np.where(is_diffusion, np.asarray(result[diffusion], dtype=object),
                                 np.asarray(result[decode], dtype=object)))

    return {
        "mode": mode,
        "tokens_per_s": pick("decode_tok_s", "prefill_tok_s", "diffusion_tok_s"),
        "bound": pick("decode_bound", "prefill_bound", "diffusion_bound"),
        "pass_s": pick("decode_pass_s", "prefill_s", "diffusion_s"),
        "error_band": np.where(is_prefill, np.asarray(result["error_band_prefill"], dtype=object),
                               np.asarray(result["error_band"], dtype=object)),
    }


def _tpf_sensitivity(result: Result, n: int) -> list[list[dict[str, float | None]]]:
    """Per row, diffusion tokens/s at multiples of its tokens per forward ([] for autoregressive rows)."""
    if "diffusion_tokens_per_forward" not in result:
        return [[] for _ in range(n)]
    columns = sorted((float(name.rsplit("_x", 1)[1]), name) for name in result
                     if name.startswith(_SWEEP))
    columns = sorted(columns + [(1.0, "diffusion_tok_s")])
    tpf = json_values(result["diffusion_tokens_per_forward"].tolist())
    speeds = {name: json_values(result[name].tolist()) for _, name in columns}
    return [[] if tpf[i] is None else
            [{"tokens_per_forward": round(tpf[i] * k, 4), "tokens_per_s": speeds[name][i]} for k, name in columns]
            for i in range(n)]


def _plain(values: Any) -> list[Any]:
    """`json_values(values.tolist())`; a numeric array's list is already plain but for NaN/inf
    (a table's page: checked as an array; a few rows: numpy's calls would cost more than the loop)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf" and len(values) > 8:
        out = values.tolist()
        if values.dtype.kind == "f":
            for index in np.flatnonzero(~np.isfinite(values)).tolist():
                out[index] = None
        return out
    return json_values(values.tolist())


def result_records(result: Result, *, modes: list[str | None], inline: dict[str, list[bool]]) -> list[dict[str, Any]]:
    """The core's output frame (or its columns) as the API's result objects (one per row), NaN/inf -> None.

    Columns are cleaned once each (not value by value per row), then zipped into rows.
    """
    n = len(result["verdict"])
    picked = _mode_columns(result, modes)
    column = {name: _plain(result[name]) if name in result else [None] * n for _, _, name, _ in _SPEC}
    for _, _, name, convert in _SPEC:
        if convert is not None:
            column[name] = convert(column[name])
    picked_clean = {name: json_values(values) for name, values in picked.items()}
    sensitivity = _tpf_sensitivity(result, n)
    identity = {
        part: (json_values(result[f"{prefix}_slug"].tolist()), json_values(result[f"{prefix}_name"].tolist()))
        for part, prefix in (("model", "model"), ("quantization", "quant"), ("device", "device"))
    }
    runtime = json_values(result["runtime"].tolist())
    # Each section's fields in _SPEC order, its rows zipped once: a row is then one dict(zip()).
    sections: dict[str, tuple[list[str], Any]] = {}
    for section in ("", "workload", "memory", "speed", "cost", "working"):
        names = [api_name for part, api_name, _, _ in _SPEC if part == section]
        values = [column[name] for part, _, name, _ in _SPEC if part == section]
        if section == "working":
            names += ["pass_s", "tokens_per_forward_sensitivity"]
            values += [picked_clean["pass_s"], sensitivity]
        sections[section] = (names, list(zip(*values)) if n else [])
    top_names, top_rows = sections.pop("")
    records = []
    for i in range(n):
        verdict = column["verdict"][i]
        record: dict[str, Any] = {
            part: {"slug": slugs[i] or None, "name": names[i], "inline": inline[part][i]}
            for part, (slugs, names) in identity.items()
        }
        record["runtime"] = runtime[i]
        record["mode"] = picked_clean["mode"][i]
        record["fits"] = None if verdict == "unknown" else verdict == "fits"
        record["tokens_per_s"] = picked_clean["tokens_per_s"][i]
        record["bound"] = picked_clean["bound"][i]
        record["error_band"] = picked_clean["error_band"][i]
        record.update(zip(top_names, top_rows[i]))
        for section, (names, rows) in sections.items():
            record[section] = dict(zip(names, rows[i]))
        records.append(record)
    return records


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A result object as one CSV row: nested fields as `section.field`, lists of names comma-joined.

    A list of objects (a sensitivity sweep) or an object two levels down is one cell of JSON text.
    """
    row: dict[str, Any] = {}
    for key, value in record.items():
        for name, cell in (value.items() if isinstance(value, dict) else [(None, value)]):
            if isinstance(cell, list) and all(isinstance(item, str) for item in cell):
                cell = ",".join(cell)
            elif isinstance(cell, (list, dict)):
                cell = json.dumps(cell, allow_nan=False)
            row[key if name is None else f"{key}.{name}"] = cell
    return row
