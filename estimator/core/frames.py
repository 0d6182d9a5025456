"""Scenario frames: one row per (model, quantization, device) under a workload, in catalog columns.

A scenario frame holds the model's columns (`schema.py`), the quantization's (`family` ->
`quant_family`), the device's, the identities `model_slug/quant_slug/device_slug` (+ `_name`),
the workload columns of `WORKLOAD_DEFAULTS` and, for the cost figures, the prices
`with_prices` adds. Strings are categorical, so a catalog-wide cross-join stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
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


class ScenarioColumns:
    """A scenario frame kept as arrays: the part of a DataFrame the core reads (`name in
    frame.columns`, `frame[name]`, `len(frame)`, `frame.index`), without building one.

    A request of a few scenarios spends more on making and indexing a ~130-column DataFrame than
    on the estimate; the arrays go through the same vectorised code. `frame()` makes the DataFrame.
    """

    def __init__(self, columns: dict[str, Any], n: int):
        self.columns = columns
        self.index = pd.RangeIndex(n)

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> Any:
        return self.columns[name]

    def __setitem__(self, name: str, values: Any) -> None:
        self.columns[name] = np.full(len(self), values) if np.ndim(values) == 0 else values

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns, copy=False)


@dataclass(frozen=True)
class ScenarioParts:
    """Model, quantization and device tables as scenario-frame columns (`_part`), strings coded once.

    A server builds them once per catalog version (`scenario_parts`) and takes rows from them for
    each request (`scenarios_from_parts`): the per-column work is not repeated per request.
    `objects` holds the text columns again as object arrays, which a frame of a few rows takes
    for less than a categorical costs to make.
    """

    models: dict[str, Any]
    quants: dict[str, Any]
    devices: dict[str, Any]
    objects: tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]


def scenario_parts(models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame, *,
                   prices: PriceTables | None = None) -> ScenarioParts:
    """The three catalog tables as scenario-frame columns: numbers as arrays, strings as categoricals.

    Given `prices`, the models carry their API price columns and the devices their rental ones
    (`with_prices`): both depend on the slug alone.
    """
    parts = []
    for part in _parts(models, quants, devices):
        columns: dict[str, Any] = {}
        for name in part.columns:
            values = part[name]
            columns[name] = _categorical(values.to_numpy(dtype=object)) \
                if values.dtype == object or pd.api.types.is_string_dtype(values.dtype) else values.to_numpy()
        parts.append(columns)
    if prices is not None:
        # The prices' provenance is text too: coded here once, not hashed again by every table.
        for index, tables in ((0, PriceTables(rental=None, api=prices.api)), (2, PriceTables(rental=prices.rental, api=None))):
            found = price_columns(parts[0]["model_slug"] if index == 0 else None,
                                  parts[2]["device_slug"] if index == 2 else None, tables)
            parts[index].update({name: _categorical(values) if values.dtype == object else values
                                 for name, values in found.items()})
    objects = tuple({name: np.asarray(values, dtype=object) for name, values in part.items()
                     if isinstance(values, pd.Categorical)} for part in parts)
    return ScenarioParts(*parts, objects=objects)


def _categorical(values: np.ndarray) -> pd.Categorical:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return pd.Categorical.from_codes(codes.astype(np.int32), categories=pd.Index(uniques, dtype=object))


# Up to this many rows, a frame kept as arrays holds its text as object arrays: making a
# categorical costs more than reading the few strings; beyond, hashing the strings costs more.
FEW_ROWS = 64


def cross_rows(n_models: int, n_quants: int, n_devices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions of a cross-join: row r takes model r // (n_q*n_d), quant (r // n_d) % n_q, device r % n_d."""
    return (np.repeat(np.arange(n_models), n_quants * n_devices),
            np.tile(np.repeat(np.arange(n_quants), n_devices), n_models),
            np.tile(np.arange(n_devices), n_models * n_quants))


def scenarios_from_parts(parts: ScenarioParts, model_rows: np.ndarray, quant_rows: np.ndarray, device_rows: np.ndarray,
                         *, as_columns: bool = False, **workload: Any) -> pd.DataFrame | ScenarioColumns:
    """Scenario i = model_rows[i] x quant_rows[i] x device_rows[i] of the parts, with the workload
    (as `with_workload`): one frame built once.

    Paired scenarios pass positions per request; a cross-join passes `cross_rows`. `as_columns`:
    the columns as `ScenarioColumns` (no DataFrame), which `pipeline.estimate_columns` reads; up
    to FEW_ROWS rows, text as object arrays.
    """
    columns: dict[str, Any] = {}
    n = len(model_rows)
    objects_ = as_columns and n <= FEW_ROWS
    parts = ((parts.models, parts.objects[0], model_rows), (parts.quants, parts.objects[1], quant_rows),
             (parts.devices, parts.objects[2], device_rows))
    for part, objects, rows in parts:
        rows = np.asarray(rows, dtype=np.intp)
        for name, values in part.items():
            if not isinstance(values, pd.Categorical):
                columns[name] = values[rows]
            elif objects_:
                columns[name] = objects[name][rows]
            else:
                columns[name] = pd.Categorical.from_codes(values.codes[rows], dtype=values.dtype)
    unknown = set(workload) - set(WORKLOAD_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown workload parameter(s): {sorted(unknown)}")
    for name, default in WORKLOAD_DEFAULTS.items():
        if name not in workload and name in columns:
            continue  # the catalog row's own value (block_size, tokens_per_forward)
        value = workload.get(name, default)
        if isinstance(value, str):
            value = np.full(n, value, dtype=object) if objects_ else \
                pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])
        elif np.ndim(value) == 0:
            value = np.full(n, value)
        columns[name] = value
    return ScenarioColumns(columns, n) if as_columns else pd.DataFrame(columns, copy=False)


def _parts(models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame) -> list[pd.DataFrame]:
    return [
        _part(models, _MODEL_KEEP, {"slug": "model_slug", "name": "model_name", "family": "model_family"}, []),
        _part(quants, _QUANT_KEEP, {"slug": "quant_slug", "name": "quant_name", "family": "quant_family"}, _EXTRA_QUANT),
        _part(devices, _DEVICE_KEEP, {"slug": "device_slug", "name": "device_name"}, _EXTRA_DEVICE),
    ]


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


@dataclass(frozen=True)
class PriceTables:
    """The cheapest rental per device and API price per model, by slug: what `with_prices` looks up.

    Built once from the offers and prices (`price_tables`) and reused for every frame priced
    against the same catalog. Each table maps a column name to {slug: value}; None: no rows at all.
    """

    rental: dict[str, dict[Any, Any]] | None
    api: dict[str, dict[Any, Any]] | None


def price_tables(cloud_offers: pd.DataFrame | None = None, api_prices: pd.DataFrame | None = None) -> PriceTables:
    """cloud_offers: rows with device_slug, usd_per_hour, gpu_count; api_prices: rows with
    model_slug, usd_per_1m_input, usd_per_1m_output (cost.cheapest_rental / cheapest_api)."""
    rental = api = None
    if cloud_offers is not None and len(cloud_offers):
        best = cheapest_rental(cloud_offers)
        rental = {"rental_usd_per_hour": dict(zip(best["device_slug"], best["usd_per_hour_per_device"]))}
        # Where the price comes from: every cost names its provider, tier and date.
        rental.update({name: dict(zip(best["device_slug"], (str(v) for v in best[name])))
                       for name in PRICE_SOURCE_COLUMNS if name.startswith("rental_") and name in best})
    if api_prices is not None and len(api_prices):
        best = cheapest_api(api_prices)
        api = {name: dict(zip(best["model_slug"], best[name] if name == "api_usd_per_mtok" else (str(v) for v in best[name])))
               for name in ("api_usd_per_mtok", *PRICE_SOURCE_COLUMNS) if name.startswith("api_") and name in best}
    return PriceTables(rental=rental, api=api)


def price_columns(model_slugs: Any, device_slugs: Any, tables: PriceTables) -> dict[str, np.ndarray]:
    """The price columns of rows with these slugs (NaN, or '' for text, where a slug has none)."""
    columns: dict[str, np.ndarray] = {}
    for table, slugs in ((tables.rental, device_slugs), (tables.api, model_slugs)):
        for name, by_slug in (table or {}).items():
            columns[name] = _by_slug(slugs, by_slug, text=name in PRICE_SOURCE_COLUMNS)
    return columns


def with_prices(frame: pd.DataFrame, *, cloud_offers: pd.DataFrame | None = None,
                api_prices: pd.DataFrame | None = None, tables: PriceTables | None = None) -> pd.DataFrame:
    """Add the cost figures' prices by slug: the cheapest rental $/h per device, the cheapest API $/1M tokens per model.

    cloud_offers: rows with device_slug, usd_per_hour, gpu_count; api_prices: rows with
    model_slug, usd_per_1m_input, usd_per_1m_output; or `tables`, the two already reduced
    (`price_tables`). A row whose slug has no offer or price (an inline object's slug is '') gets
    NaN. Writes the columns into `frame` and returns it.
    """
    tables = tables or price_tables(cloud_offers, api_prices)
    for name, values in price_columns(frame["model_slug"], frame["device_slug"], tables).items():
        frame[name] = values
    return frame


# Provenance of the prices `with_prices` adds (cost.cheapest_rental / cheapest_api).
PRICE_SOURCE_COLUMNS = ("rental_provider", "rental_tier", "rental_as_of", "rental_gpu_count", "api_provider",
                        "api_as_of")


def _by_slug(slugs: Any, table: dict[Any, Any], *, text: bool = False) -> np.ndarray:
    """table[slug] for each slug (NaN, or '' for text, where none), mapped once per distinct slug."""
    dtype, missing = (object, "") if text else (np.float64, np.nan)
    if isinstance(slugs, pd.Series):
        slugs = slugs.array if isinstance(slugs.dtype, pd.CategoricalDtype) else slugs.to_numpy(dtype=object)
    if isinstance(slugs, pd.Categorical):
        # A cross-join's slugs are categorical: map the categories, gather by code (-1 -> missing).
        per_category = [table.get(slug, missing) for slug in slugs.categories] + [missing]
        return np.array([missing if v is None or v != v else v for v in per_category], dtype=dtype)[slugs.codes]
    return pd.Series(slugs, dtype=object).map(table).fillna(missing).to_numpy(dtype=dtype)


def _native_kinds_text(values: pd.Series) -> pd.Series:
    """Lists of device kinds -> ',gpu,apple,' (one string per quantization, before the join).

    An empty list states nothing, like a missing one: '' (the format is assumed to run anywhere).
    """
    return values.map(lambda v: "," + ",".join(v) + "," if isinstance(v, (list, tuple)) and len(v) else "")
