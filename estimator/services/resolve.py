"""What a request names, resolved into rows and workload values the core reads.

A scenario names its model, quantization and device by catalog slug or name, or inline (an
object with the catalog's field names, validated like an admin edit); its workload comes in the
API's names (`context_tokens`, `offload`, ...) and leaves in the core's workload columns
(`pipeline.WORKLOAD_DEFAULTS`). Estimates and compatibility tables translate workloads here, the
same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models as db_models

from estimator.core import pipeline, workloads
from estimator.core.outputs import json_values
from estimator.core.units import KV_DTYPE_BYTES
from estimator.services.catalog import Catalog, CatalogTable
from hwfit.api_json import canonical_json

MODES = ("decode", "prefill", "diffusion")
KV_CACHE_DTYPES = tuple(KV_DTYPE_BYTES)
DIFFUSION_CACHES = tuple(workloads.DIFFUSION_CACHES)
# The choices the core knows; "auto" lets it pick the split (llama.cpp: layers, others: tensor).
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
    "memory_gb": "device_memory_gb",
}
# Workload columns that, when not given, come from the model's catalog row rather than a default.
FROM_MODEL = ("block_size", "tokens_per_forward")


class ScenarioInputError(Exception):
    """Scenarios that cannot be resolved: {scenario index: {field: [reasons]}}.

    The API's exception handler (hwfit/api_errors.py) answers it with a 400 whose body is `detail`.
    """

    def __init__(self, errors: dict[int, dict[str, Any]], *, batch: bool = True):
        super().__init__(errors)
        self.errors = errors
        self.batch = batch

    @property
    def detail(self) -> dict[Any, Any]:
        """The errors as DRF shows a list field's: {"scenarios": {index: {field: [reasons]}}}; one scenario's alone."""
        return {"scenarios": self.errors} if self.batch else self.errors[0]


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


# --- Scenarios -> rows --------------------------------------------------------------------------

@dataclass
class _Refs:
    """Row positions per scenario in a catalog table extended by the batch's inline objects."""

    table: CatalogTable
    positions: list[int] = field(default_factory=list)
    inline_rows: list[dict[str, Any]] = field(default_factory=list)
    inline: list[bool] = field(default_factory=list)
    # A batch often repeats one inline object: validated and stored once (JSON text -> position or error).
    seen: dict[bytes, int | ValidationError] = field(default_factory=dict)

    def add(self, value: str | dict[str, Any]) -> list[str] | dict[str, list[str]] | None:
        """Resolve one scenario's reference; the reasons when it cannot be."""
        if isinstance(value, str):
            position = self.table.find(value)
            if position is None:
                return [f"Unknown {self.table.kind} '{value}': give a catalog slug or name, or an inline object."]
            self.positions.append(position)
            self.inline.append(False)
            return None
        key = canonical_json(value)
        if key not in self.seen:
            try:
                row = inline_row_clean(self.table.model, value, self.table.fields)
            except ValidationError as exc:
                self.seen[key] = exc
            else:
                self.seen[key] = len(self.table.frame) + len(self.inline_rows)
                self.inline_rows.append(row)
        seen = self.seen[key]
        if isinstance(seen, ValidationError):
            return _validation_messages(seen)
        self.positions.append(seen)
        self.inline.append(True)
        return None

    def frame(self) -> pd.DataFrame:
        """The catalog table, extended by the batch's inline objects (the frame `positions` index)."""
        frame = self.table.frame
        if self.inline_rows:
            frame = pd.concat([frame, pd.DataFrame(self.inline_rows, columns=list(self.table.fields))],
                              ignore_index=True)
        return frame

    def records(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Each scenario's row as a dict; the catalog's own are made once per catalog version."""
        rows = frame.to_dict("records") if self.inline_rows else self.table.records
        return [rows[position] for position in self.positions]


@dataclass
class Resolved:
    """Scenario i is row positions[part][i] of frames[part] (a catalog table, extended by the
    batch's inline objects); `inline` says which references were inline objects and `parts` holds
    the frames as the core's scenario columns."""

    frames: dict[str, pd.DataFrame]
    positions: dict[str, np.ndarray]
    inline: dict[str, list[bool]]
    parts: pipeline.ScenarioParts

    def rows(self, part: str) -> pd.DataFrame:
        return self.frames[part].iloc[self.positions[part]].reset_index(drop=True)

    @property
    def models(self) -> pd.DataFrame:
        return self.rows("model")

    @property
    def quantizations(self) -> pd.DataFrame:
        return self.rows("quantization")

    @property
    def devices(self) -> pd.DataFrame:
        return self.rows("device")

    def model_values(self, column: str) -> np.ndarray:
        """A model column of each scenario as floats (NaN where empty)."""
        numbers = pd.to_numeric(self.frames["model"][column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return numbers[self.positions["model"]]


def scenarios_resolve(scenarios: Sequence[Mapping[str, Any]], catalog: Catalog) -> Resolved:
    """Each scenario's model, quantization and device rows, checked against what the model can do.

    Raises ScenarioInputError naming each scenario's bad fields: first what cannot be found (or
    an inline object that breaks an invariant, or an unknown runtime), then, once every model is
    known, what a model cannot run (`model_workload_errors`).
    """
    refs = {"model": _Refs(catalog.models), "quantization": _Refs(catalog.quantizations),
            "device": _Refs(catalog.devices)}
    errors: dict[int, dict[str, Any]] = {}
    for index, scenario in enumerate(scenarios):
        problems: dict[str, Any] = {}
        for part, part_refs in refs.items():
            reasons = part_refs.add(scenario[part])
            if reasons:
                problems[part] = reasons
        reasons = runtime_errors(scenario.get("runtime"), catalog)
        if reasons:
            problems["runtime"] = reasons
        if problems:
            errors[index] = problems
    if errors:
        raise ScenarioInputError(errors)

    frames = {part: part_refs.frame() for part, part_refs in refs.items()}
    model_errors = {}
    for index, (scenario, model, device) in enumerate(zip(scenarios, refs["model"].records(frames["model"]),
                                                          refs["device"].records(frames["device"]))):
        problems = {**model_workload_errors(scenario, model), **device_workload_errors(scenario, device)}
        if problems:
            model_errors[index] = problems
    if model_errors:
        raise ScenarioInputError(model_errors)
    inline = any(part_refs.inline_rows for part_refs in refs.values())
    parts = pipeline.scenario_parts(frames["model"], frames["quantization"], frames["device"],
                                    prices=catalog.price_tables) if inline else catalog.parts
    return Resolved(frames=frames, positions={part: np.array(part_refs.positions, dtype=np.intp)
                                              for part, part_refs in refs.items()},
                    inline={part: part_refs.inline for part, part_refs in refs.items()}, parts=parts)


def runtime_errors(runtime: str | None, catalog: Catalog) -> list[str]:
    """Why a runtime named by a request is not one of the catalog's (empty when none is named, or it is)."""
    if not runtime or runtime in catalog.runtimes:
        return []
    return [f"Unknown runtime '{runtime}': one of {', '.join(sorted(catalog.runtimes))}."]


def quantization_positions(catalog: Catalog, slugs: list[str] | None) -> list[int]:
    """Row positions of the quantizations a compatibility table asks for (every one when none).

    Raises ValidationError naming those the catalog does not have.
    """
    if not slugs:
        return list(range(len(catalog.quantizations.frame)))
    positions = {slug: catalog.quantizations.find(slug) for slug in slugs}
    unknown = [slug for slug, position in positions.items() if position is None]
    if unknown:
        raise ValidationError({"quantization": [f"Unknown quantization(s): {', '.join(unknown)}."]})
    return list(dict.fromkeys(positions.values()))


def quantization_rows(catalog: Catalog, slugs: list[str] | None) -> pd.DataFrame:
    """The quantizations a compatibility table asks for (every one when none). Raises ValidationError."""
    if not slugs:
        return catalog.quantizations.frame
    return catalog.quantizations.frame.iloc[quantization_positions(catalog, slugs)]


def _known(value: Any) -> float | None:
    """A catalog number, or None where the catalog leaves it empty (None/NaN)."""
    [value] = json_values([value])
    return None if value is None else float(value)


def device_workload_errors(scenario: Mapping[str, Any], device: Mapping[str, Any]) -> dict[str, list[str]]:
    """What a scenario asks that its device cannot be: `memory_gb` must be one of the device's
    memory options when the catalog lists them (a configurable part sold in fixed sizes); without a
    list any positive size is taken (the serializer checks it is positive)."""
    memory = scenario.get("memory_gb")
    options = device.get("memory_options_gb")
    if memory is None or not isinstance(options, (list, tuple)) or not options:
        return {}
    sizes = sorted(float(size) for size in options)
    if any(abs(memory - size) < 1e-6 for size in sizes):
        return {}
    listed = ", ".join(f"{size:g}" for size in sizes)
    return {"memory_gb": [f"{device['name']} comes with {listed} GB; memory_gb is {memory:g}."]}


def model_workload_errors(scenario: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, list[str]]:
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


# --- Workload -> the core's columns -------------------------------------------------------------

def energy_price(given: float | None) -> float:
    """The request's $/kWh, else the site's (settings.HWFIT_USD_PER_KWH)."""
    return settings.HWFIT_USD_PER_KWH if given is None else given


def core_workload(workload: Mapping[str, Any]) -> dict[str, Any]:
    """One request's workload as the core's workload columns: those given, and always the energy price.

    `offload: false` leaves no host memory for layers, so the verdict cannot be `offload`; a
    `device_count` fixes the count (the answer never uses more devices than asked: `no_fit` with
    `devices_needed` instead of a multi-device answer); a `runtime` names the runtime every row
    runs on; `memory_gb` is the memory of a configurable device (an Apple chip's option).
    """
    values = {column: workload[api_name] for api_name, column in WORKLOAD_COLUMNS.items()
              if workload.get(api_name) is not None}
    values["usd_per_kwh"] = energy_price(workload.get("usd_per_kwh"))
    if workload.get("offload") is False:
        values["host_memory_gb"] = 0.0
    if workload.get("device_count") is not None:
        values["scale_out"] = False
    if workload.get("runtime"):
        values["runtime"] = workload["runtime"]
    return values


def workload_columns(resolved: Resolved, scenarios: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Per-row workload arrays for paired scenarios (`core_workload` of each).

    A value one scenario gives and another does not is the core's default there, or the model's
    own for FROM_MODEL (a NaN would overwrite the model's column in the scenario frame).
    """
    rows = [core_workload(scenario) for scenario in scenarios]
    columns: dict[str, np.ndarray] = {}
    for column in dict.fromkeys(name for row in rows for name in row):
        given = [row.get(column) for row in rows]
        if column in FROM_MODEL:
            values = np.array([np.nan if v is None else v for v in given], dtype=np.float64)
            columns[column] = np.where(np.isnan(values), resolved.model_values(column), values)
        else:
            default = pipeline.WORKLOAD_DEFAULTS[column]
            values = np.array([default if v is None else v for v in given], dtype=object)
            columns[column] = values if isinstance(default, str) else values.astype(np.float64)
    return columns
