"""The estimator's Django edge: catalog rows in, plain JSON-safe dicts out.

Resolves what a request names (a catalog slug or name, or an inline object with the catalog's
field names) into rows with the core's columns (`estimator/core/schema.py`), attaches the
cheapest cloud offer and API price for the cost figures, and calls the core ONCE for the whole
batch: a frame of 1,000 scenarios costs about what a frame of one does, which is how a batch
answers in well under two seconds. Nothing here computes an estimate; the core does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models as db_models

from devices.models import Device
from estimator import selectors
from estimator.core import pipeline, workloads
from estimator.core.cost import cheapest_api, cheapest_rental
from estimator.core.units import KV_DTYPE_BYTES
from models_catalog.models import ModelArchitecture, QuantizationFormat

MODES = ("decode", "prefill", "diffusion")
# The choices the core knows; "auto" lets it pick the split (llama.cpp: layers, others: tensor).
KV_CACHE_DTYPES = tuple(KV_DTYPE_BYTES)
DIFFUSION_CACHES = tuple(workloads.DIFFUSION_CACHES)
PARALLEL_MODES = ("auto", *workloads.PARALLEL_MODES)

# API workload name -> the core's workload column (pipeline.WORKLOAD_DEFAULTS).
WORKLOAD_COLUMNS: dict[str, str] = {
    "context_tokens": "context",
    "prompt_tokens": "prompt_len",
    "gen_tokens": "gen_len",
    "batch": "batch",
    "block_size": "block_size",
    "tokens_per_forward": "tokens_per_forward",
    "steps_per_block": "steps_per_block",
    "kv_cache_dtype": "kv_dtype",
    "diffusion_cache": "diffusion_cache",
    "device_count": "n_devices",
    "parallel": "parallel",
    "host_memory_gb": "host_memory_gb",
}
# Workload values that, when not given, come from the model's catalog row rather than a default.
FROM_MODEL = ("block_size", "tokens_per_forward")


class ScenarioInputError(Exception):
    """Scenarios that cannot be resolved: {scenario index: {field: [reasons]}}."""

    def __init__(self, errors: dict[int, dict[str, Any]]):
        super().__init__(errors)
        self.errors = errors


# --- The catalog, loaded once per request -----------------------------------------------------

@dataclass
class _Table:
    """One catalog table as a frame, with its rows findable by slug or by name."""

    kind: str
    model: type[db_models.Model]
    frame: pd.DataFrame
    fields: tuple[str, ...]
    by_key: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {}
        # Names first, slugs last: a slug always wins over another record's name.
        for column in ("name", "slug"):
            for position, value in enumerate(self.frame[column].tolist()):
                self.by_key[str(value).casefold()] = position

    def find(self, key: str) -> int | None:
        return self.by_key.get(key.strip().casefold())


@dataclass
class Catalog:
    models: _Table
    quantizations: _Table
    devices: _Table
    runtimes: list[str]
    offers: pd.DataFrame      # cloud offers naming a catalog device (device_slug, usd_per_hour, gpu_count, ...)
    prices: pd.DataFrame      # API prices naming a catalog model (model_slug, usd_per_1m_input, ...)
    calibrations: pd.DataFrame | None

    def rental_by_device(self) -> dict[str, float]:
        """Cheapest $/h per single device."""
        if not len(self.offers):
            return {}
        best = cheapest_rental(self.offers)
        return dict(zip(best["device_slug"], best["usd_per_hour_per_device"]))

    def api_by_model(self) -> dict[str, float]:
        """Cheapest blended $/1M tokens per model."""
        if not len(self.prices):
            return {}
        best = cheapest_api(self.prices)
        return dict(zip(best["model_slug"], best["api_usd_per_mtok"]))


def catalog_load() -> Catalog:
    """Every table the estimator reads, one query each."""
    return Catalog(
        models=_Table("model", ModelArchitecture, selectors.models_frame(), selectors.MODEL_FIELDS),
        quantizations=_Table("quantization", QuantizationFormat, selectors.quantizations_frame(), selectors.QUANT_FIELDS),
        devices=_Table("device", Device, selectors.devices_frame(), selectors.DEVICE_FIELDS),
        runtimes=selectors.runtime_slugs(),
        offers=selectors.cloud_offers_frame(),
        prices=selectors.api_prices_frame(),
        calibrations=selectors.calibrations_frame(),
    )


# --- Inline objects -----------------------------------------------------------------------------

# Not needed to estimate, or meaningless for an object that is not stored: never required inline.
_INLINE_EXEMPT = ("name", "slug", "source", "vendor", "notes", "derived_fields")


def inline_row_clean(model: type[db_models.Model], data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """An inline catalog object validated like an admin edit, as a row of the core's columns.

    Builds an unsaved instance and runs `full_clean()` (field types, choices and the model's
    `clean()` invariants), so a bad inline device fails with the same field -> reason as the
    admin would give. Keys that are not catalog fields (e.g. `created_at` from a pasted catalog
    response) are ignored. Raises ValidationError.
    """
    names = {f.name for f in model._meta.concrete_fields}
    instance = model(**{key: value for key, value in data.items() if key in names and key in fields})
    instance.full_clean(exclude=[name for name in _INLINE_EXEMPT if name in names], validate_unique=False,
                        validate_constraints=False)
    row = {name: getattr(instance, name) for name in fields}
    row["slug"] = ""  # an inline object is not the catalog record: no calibration, offer or price applies
    row["name"] = str(data.get("name") or f"inline {model._meta.verbose_name}")
    return row


def _validation_messages(exc: ValidationError) -> dict[str, list[str]] | list[str]:
    return exc.message_dict if hasattr(exc, "error_dict") else exc.messages


# --- Scenarios -> frame -------------------------------------------------------------------------

@dataclass
class _Refs:
    """Row positions per scenario in a catalog table extended by the batch's inline objects."""

    positions: list[int] = field(default_factory=list)
    inline_rows: list[dict[str, Any]] = field(default_factory=list)
    inline: list[bool] = field(default_factory=list)

    def rows(self, table: _Table) -> pd.DataFrame:
        frame = table.frame
        if self.inline_rows:
            frame = pd.concat([frame, pd.DataFrame(self.inline_rows, columns=list(table.fields))], ignore_index=True)
        return frame.iloc[self.positions].reset_index(drop=True)


def _resolve(table: _Table, value: Any, refs: _Refs, errors: dict[str, Any], name: str,
             inline_seen: dict[str, int | ValidationError]) -> None:
    if isinstance(value, str):
        position = table.find(value)
        if position is None:
            errors[name] = [f"Unknown {table.kind} '{value}': give a catalog slug or name, or an inline object."]
            return
        refs.positions.append(position)
        refs.inline.append(False)
        return
    # A batch often repeats one inline object: validate and store it once.
    key = json.dumps(value, sort_keys=True, default=str)
    if key not in inline_seen:
        try:
            row = inline_row_clean(table.model, value, table.fields)
        except ValidationError as exc:
            inline_seen[key] = exc
        else:
            inline_seen[key] = len(table.frame) + len(refs.inline_rows)
            refs.inline_rows.append(row)
    seen = inline_seen[key]
    if isinstance(seen, ValidationError):
        errors[name] = _validation_messages(seen)
        return
    refs.positions.append(seen)
    refs.inline.append(True)


def _energy_price(given: float | None) -> float:
    """The request's $/kWh, else the site's (settings.HWFIT_USD_PER_KWH)."""
    return settings.HWFIT_USD_PER_KWH if given is None else given


def _workload_columns(models: pd.DataFrame, scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-row workload arrays for the core; a value not given is the core's default (or the model's)."""
    columns: dict[str, Any] = {}
    for api_name, column in WORKLOAD_COLUMNS.items():
        given = [scenario.get(api_name) for scenario in scenarios]
        if all(value is None for value in given):
            continue
        if api_name in FROM_MODEL:
            model_values = pd.to_numeric(models[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            columns[column] = np.array([np.nan if v is None else v for v in given], dtype=np.float64)
            columns[column] = np.where(np.isnan(columns[column]), model_values, columns[column])
        else:
            default = pipeline.WORKLOAD_DEFAULTS[column]
            columns[column] = np.array([default if v is None else v for v in given], dtype=object)
            if not isinstance(default, str):
                columns[column] = columns[column].astype(np.float64)
    # The site's energy price unless the request gives its own (settings.HWFIT_USD_PER_KWH).
    columns["usd_per_kwh"] = np.array([_energy_price(s.get("usd_per_kwh")) for s in scenarios], dtype=np.float64)
    # No offload: the host holds no layers, so the verdict cannot be `offload`.
    no_offload = [scenario.get("offload") is False for scenario in scenarios]
    if any(no_offload):
        host = columns.get("host_memory_gb", np.full(len(scenarios), pipeline.WORKLOAD_DEFAULTS["host_memory_gb"]))
        columns["host_memory_gb"] = np.where(no_offload, 0.0, host)
    runtimes = [scenario.get("runtime") or "" for scenario in scenarios]
    if any(runtimes):
        columns["runtime"] = np.array(runtimes, dtype=object)
    return columns


def estimate_scenarios(*, scenarios: list[dict[str, Any]], catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """Estimates for validated scenarios (see estimator/api/serializers.py), one core call in all.

    Each scenario names `model`, `quantization` and `device` by slug/name (str) or inline (dict),
    optionally a `runtime` slug, and workload values (None = the core's default). Raises
    ScenarioInputError naming each scenario's bad fields.
    """
    catalog = catalog or catalog_load()
    model_refs, quant_refs, device_refs = _Refs(), _Refs(), _Refs()
    errors: dict[int, dict[str, Any]] = {}
    runtimes = set(catalog.runtimes)
    inline_seen: dict[str, dict[str, int | ValidationError]] = {"model": {}, "quantization": {}, "device": {}}
    for index, scenario in enumerate(scenarios):
        problems: dict[str, Any] = {}
        _resolve(catalog.models, scenario["model"], model_refs, problems, "model", inline_seen["model"])
        _resolve(catalog.quantizations, scenario["quantization"], quant_refs, problems, "quantization",
                 inline_seen["quantization"])
        _resolve(catalog.devices, scenario["device"], device_refs, problems, "device", inline_seen["device"])
        runtime = scenario.get("runtime")
        if runtime and runtime not in runtimes:
            problems["runtime"] = [f"Unknown runtime '{runtime}': one of {', '.join(sorted(runtimes))}."]
        if problems:
            errors[index] = problems
    if errors:
        raise ScenarioInputError(errors)

    models = model_refs.rows(catalog.models)
    model_errors = {}
    for index, (scenario, model) in enumerate(zip(scenarios, models.to_dict("records"))):
        problems = _model_workload_errors(scenario, model)
        if problems:
            model_errors[index] = problems
    if model_errors:
        raise ScenarioInputError(model_errors)

    frame = pipeline.paired_scenarios(models, quant_refs.rows(catalog.quantizations), device_refs.rows(catalog.devices),
                                      **_workload_columns(models, scenarios))
    frame["rental_usd_per_hour"] = frame["device_slug"].astype(object).map(catalog.rental_by_device()).astype(np.float64)
    frame["api_usd_per_mtok"] = frame["model_slug"].astype(object).map(catalog.api_by_model()).astype(np.float64)
    result = pipeline.estimate(frame, calibrations=catalog.calibrations)
    result["usd_per_kwh"] = frame["usd_per_kwh"].to_numpy()
    result["model_name"] = frame["model_name"].to_numpy()
    result["quant_name"] = frame["quant_name"].to_numpy()
    result["device_name"] = frame["device_name"].to_numpy()
    result["context_within_window"] = context_within_window(result["context"], models["max_context"])
    inline = {"model": model_refs.inline, "quantization": quant_refs.inline, "device": device_refs.inline}
    return result_records(result, modes=[scenario.get("mode") for scenario in scenarios], inline=inline)


def _known(value: Any) -> float | None:
    """A catalog number, or None where the catalog leaves it empty (None/NaN)."""
    if value is None or pd.isna(value):
        return None
    return float(value)


def _model_workload_errors(scenario: dict[str, Any], model: dict[str, Any]) -> dict[str, list[str]]:
    """What a scenario asks that its model cannot do: field -> reasons (empty when nothing).

    The serializer checks the workload on its own; these checks need the model's row: its
    generation mode, its context window, its diffusion block.
    """
    name = model["name"]
    diffusion = model["generation_mode"] == "block_diffusion"
    problems: dict[str, list[str]] = {}
    if scenario.get("mode") == "diffusion" and not diffusion:
        problems["mode"] = [f"{name} is autoregressive: the diffusion mode needs a block-diffusion model."]
    window = _known(model.get("max_context"))
    if window is not None:
        for api_name in ("context_tokens", "prompt_tokens"):
            tokens = scenario.get(api_name)
            if tokens is not None and tokens > window:
                problems[api_name] = [f"{name} reads at most {window:,.0f} tokens (its max_context); "
                                      f"{api_name} is {tokens:,}."]
    per_forward = scenario.get("tokens_per_forward")
    if diffusion and per_forward is not None and scenario.get("block_size") is None:
        # Given both, the serializer compares them; given one, the block is the model's own. (A
        # smaller block given alone is fine: the model's tokens per forward is capped at it.)
        block = _known(model.get("block_size"))
        if block is not None and per_forward > block:
            problems["tokens_per_forward"] = [f"Tokens per forward ({per_forward:g}) cannot exceed the block size "
                                              f"({name}'s is {block:g}; give block_size for another)."]
    return problems


def context_within_window(context: pd.Series | np.ndarray, max_context: pd.Series | np.ndarray) -> np.ndarray:
    """Per row: the context fits the model's window (True/False), or None where the window is unknown."""
    context = pd.to_numeric(pd.Series(np.asarray(context)), errors="coerce").to_numpy(dtype=np.float64)
    window = pd.to_numeric(pd.Series(np.asarray(max_context)), errors="coerce").to_numpy(dtype=np.float64)
    within = np.where(context <= window, True, False).astype(object)
    within[np.isnan(window) | np.isnan(context)] = None
    return within


def estimate_one(*, scenario: dict[str, Any]) -> dict[str, Any]:
    return estimate_scenarios(scenarios=[scenario])[0]


# --- Compatibility tables -----------------------------------------------------------------------

def _quantization_rows(catalog: Catalog, slugs: list[str] | None) -> pd.DataFrame:
    frame = catalog.quantizations.frame
    if not slugs:
        return frame
    positions = {slug: catalog.quantizations.find(slug) for slug in slugs}
    unknown = [slug for slug, position in positions.items() if position is None]
    if unknown:
        raise ValidationError({"quantization": [f"Unknown quantization(s): {', '.join(unknown)}."]})
    return frame.iloc[list(dict.fromkeys(positions.values()))]


class ResultTable(Sequence):
    """The core's result frame as a sequence of API result objects, formatted when sliced.

    A compatibility table has thousands of rows and a JSON page shows fifty: the paginator slices
    this, and only the rows of the page are turned into dicts.
    """

    def __init__(self, result: pd.DataFrame, *, mode: str | None):
        self.result = result.reset_index(drop=True)
        self.mode = mode

    def __len__(self) -> int:
        return len(self.result)

    def __getitem__(self, index):
        rows = self.result.iloc[index if isinstance(index, slice) else [index]]
        n = len(rows)
        records = result_records(rows, modes=[self.mode] * n, inline={part: [False] * n for part in
                                                                      ("model", "quantization", "device")})
        return records if isinstance(index, slice) else records[0]


def compatibility(
    *, model_slug: str | None = None, device_slug: str | None = None, quantizations: list[str] | None = None,
    runtime: str | None = None, mode: str | None = None, workload: dict[str, Any],
) -> ResultTable:
    """One model on every device, or every model on one device, for each quantization asked.

    Rows come in catalog order (model name, quantization bits descending, device vendor and name).
    For one model, a workload it cannot run (diffusion on an autoregressive model, a context beyond
    its window) is a ValidationError as for an estimate; for one device, such a model's row has no
    diffusion figure (tokens_per_s null) or says `context_within_window: false`.
    Raises ValidationError naming a bad query parameter.
    """
    catalog = catalog_load()
    models = catalog.models.frame
    devices = catalog.devices.frame
    if model_slug is not None:
        models = models[models["slug"] == model_slug]
        # One model: a workload it cannot run is the request's mistake, as for an estimate.
        problems = {} if models.empty else _model_workload_errors({**workload, "mode": mode}, models.iloc[0].to_dict())
        if problems:
            raise ValidationError(problems)
    if device_slug is not None:
        devices = devices[devices["slug"] == device_slug]
    if runtime and runtime not in catalog.runtimes:
        raise ValidationError({"runtime": [f"Unknown runtime '{runtime}': one of {', '.join(catalog.runtimes)}."]})
    quants = _quantization_rows(catalog, quantizations)
    scalar_workload = {
        column: workload[api_name] for api_name, column in WORKLOAD_COLUMNS.items()
        if workload.get(api_name) is not None
    }
    scalar_workload["usd_per_kwh"] = _energy_price(workload.get("usd_per_kwh"))
    if workload.get("offload") is False:
        scalar_workload["host_memory_gb"] = 0.0
    if runtime:
        scalar_workload["runtime"] = runtime
    result = pipeline.compatibility_matrix(
        models, quants, devices, calibrations=catalog.calibrations, cloud_offers=catalog.offers,
        api_prices=catalog.prices, **scalar_workload,
    )
    result["usd_per_kwh"] = scalar_workload["usd_per_kwh"]
    windows = result["model_slug"].astype(object).map(dict(zip(models["slug"], models["max_context"])))
    result["context_within_window"] = context_within_window(result["context"], windows)
    return ResultTable(result, mode=mode)


# --- Core frame -> JSON-safe records ------------------------------------------------------------

def _clean_column(values: Iterable[Any]) -> list[Any]:
    """NaN/inf -> None, numpy scalars -> Python ones: JSON can carry every value."""
    out = []
    for value in values:
        if isinstance(value, (float, np.floating)):
            value = float(value)
            out.append(value if math.isfinite(value) else None)
        elif isinstance(value, np.integer):
            out.append(int(value))
        elif isinstance(value, np.bool_):
            out.append(bool(value))
        elif value is pd.NA or value is None:
            out.append(None)
        else:
            out.append(value)
    return out


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
    ("workload", "steps_per_block", "diffusion_steps_per_block", _as_int),
    ("workload", "kv_cache_dtype", "kv_dtype", None),
    ("workload", "device_count", "n_devices", _as_int),
    ("workload", "parallel", "parallel", None),
    ("", "verdict", "verdict", None),
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
    ("working", "experts_touched_fraction", "experts_touched_frac", None),
    ("working", "peak_flops", "peak_flops", None),
    ("working", "peak_flops_source", "peak_flops_source", None),
    ("working", "bandwidth_bytes_per_s", "bandwidth_bytes_s", None),
    ("working", "peak_flops_is_fallback", "peak_flops_is_fallback", None),
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


def _mode_columns(result: pd.DataFrame, modes: list[str | None]) -> dict[str, np.ndarray]:
    """The headline figures of each row's mode (default: the model's own generation mode)."""
    diffusion_model = (result["generation_mode"] == "block_diffusion").to_numpy()
    mode = np.array([m or "" for m in modes], dtype=object)
    mode = np.where(mode == "", np.where(diffusion_model, "diffusion", "decode"), mode)
    is_prefill, is_diffusion = mode == "prefill", mode == "diffusion"

    def pick(decode: str, prefill: str, diffusion: str) -> np.ndarray:
        return np.where(is_prefill, result[prefill].to_numpy(dtype=object),
                        np.where(is_diffusion, result[diffusion].to_numpy(dtype=object), result[decode].to_numpy(dtype=object)))

    return {
        "mode": mode,
        "tokens_per_s": pick("decode_tok_s", "prefill_tok_s", "diffusion_tok_s"),
        "bound": pick("decode_bound", "prefill_bound", "diffusion_bound"),
        "pass_s": pick("decode_pass_s", "prefill_s", "diffusion_s"),
        "error_band": np.where(is_prefill, result["error_band_prefill"].to_numpy(dtype=object),
                               result["error_band"].to_numpy(dtype=object)),
    }


def result_records(result: pd.DataFrame, *, modes: list[str | None], inline: dict[str, list[bool]]) -> list[dict[str, Any]]:
    """The core's output frame as the API's result objects (one per row), NaN/inf -> None.

    Columns are cleaned once each (not value by value per row), then zipped into rows.
    """
    n = len(result)
    picked = _mode_columns(result, modes)
    column = {name: _clean_column(result[name].tolist()) if name in result else [None] * n
              for _, _, name, _ in _SPEC}
    for _, _, name, convert in _SPEC:
        if convert is not None:
            column[name] = convert(column[name])
    picked_clean = {name: _clean_column(values) for name, values in picked.items()}
    identity = {
        part: (_clean_column(result[f"{prefix}_slug"].tolist()), _clean_column(result[f"{prefix}_name"].tolist()))
        for part, prefix in (("model", "model"), ("quantization", "quant"), ("device", "device"))
    }
    runtime = _clean_column(result["runtime"].tolist())
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
        sections: dict[str, dict[str, Any]] = {"workload": {}, "memory": {}, "speed": {}, "cost": {}, "working": {}}
        for section, api_name, name, _ in _SPEC:
            (sections[section] if section else record)[api_name] = column[name][i]
        sections["working"]["pass_s"] = picked_clean["pass_s"][i]
        record.update(sections)
        records.append(record)
    return records


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A result object as one CSV row: nested fields as `section.field`, lists comma-joined."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        for name, cell in (value.items() if isinstance(value, dict) else [(None, value)]):
            row[key if name is None else f"{key}.{name}"] = ",".join(cell) if isinstance(cell, list) else cell
    return row
