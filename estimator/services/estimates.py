"""Estimates and compatibility tables: resolve the request, call the core once, shape the result.

The core runs once per request, whatever its size: a frame of 1,000 scenarios costs about what a
frame of one does, which is how a batch answers in well under two seconds. Nothing here computes
an estimate; the core does (`estimator/core/pipeline.py`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError

from estimator.calibration.ledger import estimates_with_accuracy
from estimator.core import pipeline
from estimator.services.catalog import Catalog
from estimator.services.catalog_cache import compatibility_cached, estimates_cached
from estimator.services.resolve import (
    ScenarioInputError, core_workload, model_workload_errors, quantization_positions, runtime_errors, scenarios_resolve,
    workload_columns,
)
from estimator.services.results import context_within_window, result_records
from estimator.services.tables import ResultTable


def _estimate(frame: pd.DataFrame | pipeline.ScenarioColumns, catalog: Catalog, *,
              text_codes: bool = False) -> dict[str, Any]:
    """The core's answer for a scenario frame (priced: `Catalog.price_tables`), with what the request set:
    its columns as arrays (`pipeline.estimate_columns`; text as codes for a table)."""
    result = pipeline.estimate_columns(frame, calibrations=catalog.calibrations, text_codes=text_codes)
    result["usd_per_kwh"] = np.asarray(frame["usd_per_kwh"])
    result["context_within_window"] = context_within_window(result["context"], frame["max_context"])
    return result


def estimate_scenarios(*, scenarios: list[dict[str, Any]], catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """Estimates for validated scenarios (see estimator/api/serializers.py), one core call in all.

    Each scenario names `model`, `quantization` and `device` by slug/name (str) or inline (dict),
    optionally a `runtime` slug, and workload values (None = the core's default). Raises
    ScenarioInputError naming each scenario's bad fields. Without a `catalog`, the current one is
    used and scenarios already estimated at its version are reused (estimator/services/catalog_cache.py).
    """
    if catalog is None:
        return estimates_cached(scenarios, lambda missing, current: estimate_scenarios(scenarios=missing,
                                                                                         catalog=current))
    resolved = scenarios_resolve(scenarios, catalog)
    frame = pipeline.scenarios_from_parts(resolved.parts, resolved.positions["model"],
                                          resolved.positions["quantization"], resolved.positions["device"],
                                          as_columns=True,
                                          **workload_columns(resolved, scenarios))
    result = _estimate(frame, catalog)
    records = result_records(result, modes=[scenario.get("mode") for scenario in scenarios], inline=resolved.inline)
    # The accuracy ledger: how far estimates of each (device, runtime) were from its measured runs.
    return estimates_with_accuracy(records)


def estimate_one(*, scenario: dict[str, Any]) -> dict[str, Any]:
    """The estimate of one scenario. Raises ScenarioInputError whose `detail` names its fields alone."""
    try:
        return estimate_scenarios(scenarios=[scenario])[0]
    except ScenarioInputError as exc:
        raise ScenarioInputError(exc.errors, batch=False) from exc


def compatibility(
    *, model_slug: str | None = None, device_slug: str | None = None, quantizations: list[str] | None = None,
    runtime: str | None = None, mode: str | None = None, workload: dict[str, Any],
) -> ResultTable:
    """One model on every device, or every model on one device, for each quantization asked.

    Rows come in catalog order (model name, quantization bits descending, device vendor and name).
    For one model, a workload it cannot run (diffusion on an autoregressive model, a context beyond
    its window) is a ValidationError as for an estimate; for one device, such a model's row has no
    diffusion figure (tokens_per_s null) or says `context_within_window: false`.
    Raises ValidationError naming a bad query parameter. Computed once per catalog version and
    query, then reused (estimator/services/catalog_cache.py).
    """
    key = (model_slug, device_slug, quantizations, runtime, mode, sorted(workload.items()))
    return compatibility_cached(key, lambda catalog: _compatibility(
        catalog, model_slug=model_slug, device_slug=device_slug, quantizations=quantizations, runtime=runtime,
        mode=mode, workload=workload))


def _compatibility(
    catalog: Catalog, *, model_slug: str | None, device_slug: str | None, quantizations: list[str] | None,
    runtime: str | None, mode: str | None, workload: dict[str, Any],
) -> ResultTable:
    # Row positions in the catalog's tables; the scenario frame is their cross-join (catalog order).
    models = _positions(catalog.models.frame, model_slug)
    if model_slug is not None:
        # One model: a workload it cannot run is the request's mistake, as for an estimate.
        problems = {} if not len(models) else model_workload_errors({**workload, "mode": mode},
                                                                    catalog.models.records[models[0]])
        if problems:
            raise ValidationError(problems)
    devices = _positions(catalog.devices.frame, device_slug)
    reasons = runtime_errors(runtime, catalog)
    if reasons:
        raise ValidationError({"runtime": reasons})
    quants = np.array(quantization_positions(catalog, quantizations), dtype=np.intp)
    model_rows, quant_rows, device_rows = pipeline.cross_rows(len(models), len(quants), len(devices))
    models, quants, devices = models[model_rows], quants[quant_rows], devices[device_rows]
    columns = core_workload({**workload, "runtime": runtime})

    def compute(rows: slice) -> dict[str, Any]:
        frame = pipeline.scenarios_from_parts(catalog.parts, models[rows], quants[rows], devices[rows],
                                              as_columns=True, **columns)
        return _estimate(frame, catalog, text_codes=True)

    # Computed as it is read: a JSON page computes the rows around it, a CSV all of them.
    return ResultTable(compute=compute, n=len(models), mode=mode)


def _positions(frame: pd.DataFrame, slug: str | None) -> np.ndarray:
    """Every row's position, or those of the row with this slug."""
    if slug is None:
        return np.arange(len(frame))
    return np.flatnonzero(frame["slug"].to_numpy(dtype=object) == slug)
