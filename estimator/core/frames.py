"""Scenario frames: one row per (model, quantization, device) under a workload, in catalog columns.

A scenario frame holds the model's columns (`schema.py`), the quantization's (`family` ->
`quant_family`), the device's, the identities `model_slug/quant_slug/device_slug` (+ `_name`),
the workload columns of `WORKLOAD_DEFAULTS` and, for the cost figures, the prices
`with_prices` adds. Strings are categorical, so a catalog-wide cross-join stays small.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from estimator.core.cost import DEFAULT_USD_PER_KWH, cheapest_api, cheapest_rental
from estimator.core.schema import DEVICE_COLUMNS, MODEL_COLUMNS, QUANT_COLUMNS

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
    "scale_out": True,                # the answer may use more devices than asked (no count given)
    "device_memory_gb": np.nan,       # memory of a configurable device (Apple chips); NaN = the catalog's
    "parallel": "auto",               # auto | none | tensor | layers (llama.cpp's split)
    "image_input": False,
    "block_size": np.nan,
    "tokens_per_forward": np.nan,
    "steps_per_block": np.nan,
    "diffusion_cache": "auto",        # family A: auto (the runtime's: SGLang none, else dual) | none | prefix | dual
    "prefill_chunk": np.nan,
    "flash_attention": np.nan,        # 1 fused attention, 0 the unfused score matrices; NaN = fused (passes.py)
    "host_memory_gb": 64.0,           # host RAM for partial offload
    "host_memory_bandwidth_gbs": 60.0,  # dual-channel DDR5 as read by a CPU
    "host_tflops": 1.0,               # CPU FP32 throughput for offloaded layers
    "usd_per_kwh": DEFAULT_USD_PER_KWH,
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
        # Where the price comes from: every cost names its provider, tier and date.
        for name in PRICE_SOURCE_COLUMNS:
            if name.startswith("rental_") and name in rental:
                frame[name] = _by_slug(frame["device_slug"], rental["device_slug"], rental[name], text=True)
    if api_prices is not None and len(api_prices):
        api = cheapest_api(api_prices)
        frame["api_usd_per_mtok"] = _by_slug(frame["model_slug"], api["model_slug"], api["api_usd_per_mtok"])
        for name in PRICE_SOURCE_COLUMNS:
            if name.startswith("api_") and name in api:
                frame[name] = _by_slug(frame["model_slug"], api["model_slug"], api[name], text=True)
    return frame


# Provenance of the prices `with_prices` adds (cost.cheapest_rental / cheapest_api).
PRICE_SOURCE_COLUMNS = ("rental_provider", "rental_tier", "rental_as_of", "rental_gpu_count", "api_provider",
                        "api_as_of")


def _by_slug(slugs: pd.Series, keys: pd.Series, values: pd.Series, *, text: bool = False) -> np.ndarray:
    """values[keys == slug] for each slug (NaN, or '' for text, where none), mapped once per distinct slug."""
    table = dict(zip(keys, (str(v) for v in values) if text else values))
    dtype, missing = (object, "") if text else (np.float64, np.nan)
    if isinstance(slugs.dtype, pd.CategoricalDtype):
        # A cross-join's slugs are categorical: map the categories, gather by code (-1 -> missing).
        per_category = pd.Series(slugs.cat.categories, dtype=object).map(table).fillna(missing).to_numpy(dtype=dtype)
        return np.append(per_category, np.array([missing], dtype=dtype))[slugs.cat.codes.to_numpy()]
    return slugs.astype(object).map(table).fillna(missing).to_numpy(dtype=dtype)


def _native_kinds_text(values: pd.Series) -> pd.Series:
    """Lists of device kinds -> ',gpu,apple,' (one string per quantization, before the join).

    An empty list states nothing, like a missing one: '' (the format is assumed to run anywhere).
    """
    return values.map(lambda v: "," + ",".join(v) + "," if isinstance(v, (list, tuple)) and len(v) else "")
