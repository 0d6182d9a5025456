"""The one code path: a scenario frame in, an estimate frame out, column-wise, no per-row loop.

    scenarios(models, quants, devices, **workload)   cross-join -> one row per (model, quant, device)
    estimate(scenarios, priors, calibrations, ...)   every figure, column-wise numpy
    compatibility_matrix(...)                        the two above, plus rental and API prices
    estimate_one(model, quant, device, **workload)   a 1-row frame through the same path -> dict

A server answering many small requests against one catalog codes the catalog once
(`scenario_parts`, prices included) and builds each request's scenarios from row positions
(`scenarios_from_parts`, `cross_rows` for a table); with `as_columns` they stay arrays
(`ScenarioColumns`) and `estimate_columns` returns the output columns as a dict: the same code
path without building DataFrames, which cost more than the estimate of a few rows.

The work is done in four modules, in this order: `frames` (scenario frames and their workload
columns), `preparation` (workload, memory and verdict, peaks, pass terms: `prepare`), `timing`
(seconds at a set of efficiencies: `times`) and `outputs` (the estimate frame, `json_records`).

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
from typing import Any

import pandas as pd

from estimator.core import priors as priors_mod
from estimator.core.architecture import nan_to_num
from estimator.core.frames import (
    FEW_ROWS, WORKLOAD_DEFAULTS, PriceTables, ScenarioColumns, ScenarioParts, cross_rows, paired_scenarios, price_tables, scenario_parts, scenarios,
    scenarios_from_parts, with_prices, with_workload,
)
from estimator.core.outputs import OUTPUT_COLUMNS, json_records, output_columns
from estimator.core.preparation import Prepared, prepare
from estimator.core.timing import times

__all__ = [
    "OUTPUT_COLUMNS", "WORKLOAD_DEFAULTS", "Prepared", "PriceTables", "ScenarioParts", "compatibility_matrix",
    "cross_rows", "estimate", "estimate_one", "json_records", "paired_scenarios", "prepare", "price_tables",
    "ScenarioColumns", "estimate_columns", "scenario_parts", "scenarios", "scenarios_from_parts", "times",
    "with_prices", "with_workload",
]


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
    columns = estimate_columns(frame, priors, calibrations, configuration=configuration, max_devices=max_devices,
                               max_batch_cap=max_batch_cap)
    return pd.DataFrame(columns, index=frame.index, copy=False)


def estimate_columns(
    frame: pd.DataFrame | ScenarioColumns,
    priors: dict | None = None,
    calibrations: pd.DataFrame | None = None,
    *,
    configuration: str = "verdict",
    max_devices: int = 8,
    max_batch_cap: int = 256,
    text_codes: bool = False,
) -> dict[str, Any]:
    """`estimate`'s columns as name -> array, without the frame (a request of a few scenarios).

    text_codes: text columns as `architecture.Coded` (codes into their labels), for a caller that
    keeps the columns and reads a few rows of them at a time (a compatibility table).
    """
    priors = priors or priors_mod.load_priors()
    prep = prepare(frame, priors, configuration=configuration, max_devices=max_devices, max_batch_cap=max_batch_cap)
    m = prep.m
    eff = priors_mod.resolve(priors, prep.runtime, prep.device_class, prep.device_slug, calibrations,
                             issue_rate=prep.issue_rate)
    t_fixed = eff.t_fixed_s + eff.t_layer_s * nan_to_num(m.n_layers)
    dq = priors_mod.dequant_ops(priors, prep.dequant_class)
    gemm = priors_mod.gemm_factor(priors, prep.dequant_class)
    t = times(prep, eff.eff_m, eff.eff_c, eff.eff_attn, t_fixed, dq, gemm, priors.get("expert_half_tokens", 0.0),
              eff.bw_cap)
    # A request's few scenarios get their text as object arrays: making categoricals costs more
    # than the rows; many rows keep categoricals (compact in memory and in a pickled table).
    return output_columns(frame, prep, eff, t_fixed, t, configuration,
                          categorical=not isinstance(frame, ScenarioColumns) or len(frame) > FEW_ROWS, codes=text_codes)


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
