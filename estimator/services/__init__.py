"""The estimator's Django edge: catalog rows in, plain JSON-safe dicts out.

    catalog.py     the catalog's tables as frames, loaded once per request
    resolve.py     what a request names -> rows and the core's workload columns (inline objects
                   validated like an admin edit; one workload translation for every caller)
    estimates.py   estimates and compatibility tables: one core call per request
    results.py     the core's result frame -> the API's result objects (NaN/inf -> None)
    tables.py      a compatibility table: the core's columns kept, computed as its pages are read

Callers import from here; the modules are how the work is divided, not an API.
"""

from estimator.services.catalog import Catalog, CatalogTable, catalog_load
from estimator.services.catalog_cache import catalog_current
from estimator.services.estimates import compatibility, estimate_one, estimate_scenarios
from estimator.services.resolve import (
    DIFFUSION_CACHES, FROM_MODEL, KV_CACHE_DTYPES, MODES, PARALLEL_MODES, WORKLOAD_COLUMNS, Resolved,
    ScenarioInputError, core_workload, energy_price, inline_row_clean, model_workload_errors, quantization_rows,
    runtime_errors, scenarios_resolve, workload_columns,
)
from estimator.services.results import context_within_window, flat_record, result_records
from estimator.services.tables import ResultTable

__all__ = [
    "DIFFUSION_CACHES", "FROM_MODEL", "KV_CACHE_DTYPES", "MODES", "PARALLEL_MODES", "WORKLOAD_COLUMNS", "Catalog",
    "CatalogTable", "catalog_current", "Resolved", "ResultTable", "ScenarioInputError", "catalog_load", "compatibility",
    "context_within_window", "core_workload", "energy_price", "estimate_one", "estimate_scenarios", "flat_record",
    "inline_row_clean", "model_workload_errors", "quantization_rows", "result_records", "runtime_errors",
    "scenarios_resolve", "workload_columns",
]
