"""The calculator and its planner: one scenario with its working, and how many devices it needs.

Any catalog model x quantization x device, or a model or device typed in, under any workload,
read from a GET form with the estimate API's field names (a calculator URL is a permalink, and
the same query asks `/api/v1/estimate/`). Validation is the API's: the scenario serializer, then
the estimator's own checks; every reason lands next to its field. The scenario and the planner's
configurations (1..N devices, tensor and layer split) are estimated in ONE `estimate_scenarios`
call; prices are the ones the estimator used, shown with their provider, tier and date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.http import QueryDict

from devices.models import CloudOffer, Device, DeviceKind
from estimator import services
from estimator.api.serializers import ScenarioSerializer
from estimator.core import cost
from hwfit.tools.form import (
    CUSTOM, WORKLOAD_FIELDS, FormField, catalog_choices, flat_errors, query_string, query_values, workload_fields,
)
from hwfit.tools.working import batch_costs, finite, per_device_bytes
from models_catalog.models import ApiPrice, DiffusionAttention, GenerationMode, ModelArchitecture

# What the calculator shows before anything is asked: a question many visitors bring.
DEFAULT_PICK = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090"}
PICK_FIELDS = ("model", "quantization", "device")

# A device or model typed in: the catalog's field names (the inline objects of the estimate API).
DEVICE_INLINE = ("kind", "memory_gb", "memory_bandwidth_gbs", "fp16_tflops", "bf16_tflops", "fp8_tflops", "int8_tops",
                 "fp4_tflops", "tdp_w", "usable_memory_fraction", "interconnect_gbs", "host_bandwidth_gbs")
MODEL_INLINE = ("generation_mode", "diffusion_attention", "total_params_b", "active_params_b", "n_layers",
                "hidden_size", "n_heads", "n_kv_heads", "head_dim", "intermediate_size", "vocab_size", "max_context",
                "n_experts", "n_experts_active", "moe_intermediate_size", "sliding_window", "n_global_layers")
# The workload's block size and tokens per forward are also a typed-in diffusion model's own.
MODEL_FROM_WORKLOAD = ("block_size", "tokens_per_forward")
NAME_FIELDS = {"device.name": "device_name", "model.name": "model_name"}

PLAN_FIELDS = ("target_tokens_per_s", "max_devices")
DEFAULT_MAX_DEVICES = 8
MAX_DEVICES = 64  # the estimate API's device_count limit
PLAN_SPLITS = ("tensor", "layers")


@dataclass
class PlanRow:
    """The best split for one device count."""

    device_count: int
    parallel: str
    record: dict[str, Any]
    per_request_tokens_per_s: float | None
    memory_per_device_bytes: float | None
    energy_usd_per_mtok: float | None
    rental_usd_per_mtok: float | None
    fits: bool
    meets_target: bool
    chosen: bool = False


@dataclass
class Plan:
    rows: list[PlanRow]
    target_tokens_per_s: float | None
    batch: int
    chosen: PlanRow | None


@dataclass
class PriceRow:
    provider: str
    detail: str              # tier and GPU count, or input/output prices
    usd: float               # $/GPU-hour, or blended $/1M tokens
    as_of: str
    source: str
    used: bool


@dataclass
class CalculatorPage:
    pick: list[FormField]
    workload: list[FormField]
    custom_device: list[FormField]
    custom_model: list[FormField]
    planner: list[FormField]
    errors: dict[str, list[str]]
    record: dict[str, Any] | None = None
    offers: list[PriceRow] = field(default_factory=list)
    api_prices: list[PriceRow] = field(default_factory=list)
    plan: Plan | None = None
    query: str = ""

    @property
    def used_offer(self) -> PriceRow | None:
        return next((offer for offer in self.offers if offer.used), None)

    @property
    def used_api_price(self) -> PriceRow | None:
        return next((price for price in self.api_prices if price.used), None)

    @property
    def custom_device_open(self) -> bool:
        return any(f.value == CUSTOM for f in self.pick if f.name == "device")

    @property
    def custom_model_open(self) -> bool:
        return any(f.value == CUSTOM for f in self.pick if f.name == "model")


def _inline(values: dict[str, str], names: tuple[str, ...], label: str, default_name: str) -> dict[str, str]:
    data = {name: values[name] for name in names if name in values}
    data["name"] = values.get(label) or default_name
    return data


def _scenario_data(values: dict[str, str]) -> dict[str, Any]:
    """The serializer's input: catalog slugs, or inline objects for a typed-in model or device."""
    data: dict[str, Any] = {name: values[name] for name in (*PICK_FIELDS, "runtime", *WORKLOAD_FIELDS) if name in values}
    if values.get("device") == CUSTOM:
        data["device"] = _inline(values, DEVICE_INLINE, "device_name", "Custom device")
    if values.get("model") == CUSTOM:
        model = _inline(values, MODEL_INLINE + MODEL_FROM_WORKLOAD, "model_name", "Custom model")
        if model.get("generation_mode") != GenerationMode.BLOCK_DIFFUSION:
            # An autoregressive model has no diffusion block: the workload's fields are not its own.
            for name in MODEL_FROM_WORKLOAD:
                model.pop(name, None)
        data["model"] = model
    return data


def _plan_settings(values: dict[str, str], errors: dict[str, list[str]]) -> tuple[float | None, int]:
    target, max_devices = None, DEFAULT_MAX_DEVICES
    if "target_tokens_per_s" in values:
        try:
            target = float(values["target_tokens_per_s"])
        except ValueError:
            errors["target_tokens_per_s"] = ["Give a number of tokens per second, e.g. 20."]
        else:
            if not (0 < target <= 1e7):
                errors["target_tokens_per_s"] = ["Give a speed above 0 and at most 10,000,000 tokens/s."]
                target = None
    if "max_devices" in values:
        try:
            max_devices = int(values["max_devices"])
        except ValueError:
            errors["max_devices"] = [f"Give a whole number of devices from 1 to {MAX_DEVICES}."]
            max_devices = DEFAULT_MAX_DEVICES
        else:
            if not 1 <= max_devices <= MAX_DEVICES:
                errors["max_devices"] = [f"Give a whole number of devices from 1 to {MAX_DEVICES}."]
                max_devices = DEFAULT_MAX_DEVICES
    return target, max_devices


def _plan_scenarios(scenario: dict[str, Any], max_devices: int) -> list[tuple[int, str, dict[str, Any]]]:
    """One scenario per device count and split: 1 device, then 2..N devices split by tensor and by layers."""
    base = {k: v for k, v in scenario.items() if k not in ("device_count", "parallel")}
    plans = [(1, "none", {**base, "device_count": 1})]
    for count in range(2, max_devices + 1):
        plans += [(count, split, {**base, "device_count": count, "parallel": split}) for split in PLAN_SPLITS]
    return plans


def plan_rows(plans: list[tuple[int, str, dict[str, Any]]], records: list[dict[str, Any]],
              target: float | None) -> Plan:
    """The best split per device count and the smallest count that fits (and reaches the target).

    A configuration counts only when the model fits in the devices asked for (`fits`) and the
    estimate used that many devices; the costs are at the workload's batch, through the core's cost
    functions (the record's own are at batch 1 and at the largest batch).
    """
    best: dict[int, PlanRow] = {}
    for (count, split, scenario), record in zip(plans, records):
        batch = record["workload"]["batch"] or 1
        tokens = finite(record["tokens_per_s"])
        fits = bool(record["fits"]) and record["workload"]["device_count"] == count
        row = PlanRow(
            device_count=count, parallel=record["workload"]["parallel"] or split, record=record,
            per_request_tokens_per_s=None if tokens is None else tokens / batch,
            memory_per_device_bytes=per_device_bytes(record["memory"], count),
            energy_usd_per_mtok=batch_costs(record)[0] if fits else None,
            rental_usd_per_mtok=batch_costs(record)[1] if fits else None,
            fits=fits, meets_target=False,
        )
        row.meets_target = fits and (target is None or (row.per_request_tokens_per_s or 0) >= target)
        current = best.get(count)
        if current is None or _rank(row) > _rank(current):
            best[count] = row
    rows = [best[count] for count in sorted(best)]
    chosen = next((row for row in rows if row.meets_target), None)
    if chosen is not None:
        chosen.chosen = True
    batch = records[0]["workload"]["batch"] if records else 1
    return Plan(rows=rows, target_tokens_per_s=target, batch=batch or 1, chosen=chosen)


def _rank(row: PlanRow) -> tuple[bool, float]:
    return (row.fits, row.per_request_tokens_per_s or 0.0)


def _offer_rows(catalog: services.Catalog, device_slug: str | None) -> list[PriceRow]:
    """The device's cloud offers, the one the estimate used marked (the core's `cheapest_rental`)."""
    if not device_slug:
        return []
    offers = catalog.offers[catalog.offers["device_slug"] == device_slug]
    used = cost.cheapest_rental(offers).to_dict("records") if len(offers) else []
    used_key = (used[0].get("rental_provider"), used[0].get("rental_tier"), used[0].get("rental_as_of")) if used else None
    rows, marked = [], False
    for offer in CloudOffer.objects.filter(device__slug=device_slug).order_by("usd_per_hour", "gpu_count", "provider"):
        is_used = not marked and used_key == (offer.provider, offer.tier, offer.as_of)
        marked = marked or is_used
        detail = f"{offer.get_tier_display()}, {offer.gpu_count} GPU{'s' if offer.gpu_count != 1 else ''}"
        rows.append(PriceRow(provider=offer.provider, detail=detail, usd=offer.usd_per_hour, as_of=offer.as_of,
                             source=offer.source, used=is_used))
    return rows


def _api_price_rows(catalog: services.Catalog, model_slug: str | None) -> list[PriceRow]:
    """The model's API prices, blended 70/30 by the core, the one the estimate used marked."""
    if not model_slug:
        return []
    prices = list(ApiPrice.objects.filter(model__slug=model_slug))
    if not prices:
        return []
    blended = cost.api_blended_usd_per_mtok(np.array([p.usd_per_1m_input for p in prices]),
                                           np.array([p.usd_per_1m_output for p in prices]))
    cheapest = float(np.min(blended))
    rows, marked = [], False
    for price, usd in sorted(zip(prices, blended.tolist()), key=lambda pair: (pair[1], pair[0].provider)):
        is_used = not marked and usd == cheapest
        marked = marked or is_used
        detail = f"${price.usd_per_1m_input:,.2f} in / ${price.usd_per_1m_output:,.2f} out per 1M"
        rows.append(PriceRow(provider=price.provider, detail=detail, usd=usd, as_of=price.as_of, source=price.source,
                             used=is_used))
    return rows


def _labels(model: type, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(model._meta.get_field(name).verbose_name) for name in names}


def _inline_fields(values: dict[str, str], errors: dict[str, list[str]], placeholders: dict[str, Any],
                   model: type, names: tuple[str, ...], name_field: str, choices: dict[str, list]) -> list[FormField]:
    labels = _labels(model, names)
    out = [FormField(name=name_field, label="Name", value=values.get(name_field, ""),
                     placeholder=str(placeholders.get("name") or ""), errors=errors.get(name_field, []), numeric=False)]
    for name in names:
        placeholder = placeholders.get(name)
        placeholder = "" if placeholder is None or placeholder != placeholder else f"{placeholder:g}" if isinstance(
            placeholder, float) else str(placeholder)
        out.append(FormField(name=name, label=labels[name][:1].upper() + labels[name][1:], value=values.get(name, ""),
                             choices=choices.get(name, ()), placeholder=placeholder, errors=errors.get(name, [])))
    return out


def _catalog_row(table: services.CatalogTable, key: str) -> dict[str, Any]:
    position = table.find(key) if key and key != CUSTOM else None
    return {} if position is None else table.frame.iloc[position].to_dict()


def calculator_page(query: QueryDict) -> CalculatorPage:
    """Everything the calculator page shows for its GET form."""
    names = (*PICK_FIELDS, "runtime", *WORKLOAD_FIELDS, *DEVICE_INLINE, *MODEL_INLINE, "device_name", "model_name",
             *PLAN_FIELDS)
    values = query_values(query, names)
    if not any(name in values for name in PICK_FIELDS):
        values.update(DEFAULT_PICK)
    for name in PICK_FIELDS:
        values.setdefault(name, DEFAULT_PICK[name])
    catalog = services.catalog_current()  # kept in memory per catalog version
    errors: dict[str, list[str]] = {}
    target, max_devices = _plan_settings(values, errors)

    record, plan = None, None
    serializer = ScenarioSerializer(data=_scenario_data(values))
    if serializer.is_valid():
        scenario = dict(serializer.validated_data)
        plans = _plan_scenarios(scenario, max_devices)
        try:
            records = services.estimate_scenarios(scenarios=[scenario] + [s for _, _, s in plans], catalog=catalog)
        except services.ScenarioInputError as exc:
            errors.update(flat_errors(exc.errors[min(exc.errors)], inline_fields=NAME_FIELDS))
        else:
            record = records[0]
            plan = plan_rows(plans, records[1:], target)
    else:
        errors.update(flat_errors(serializer.errors, inline_fields=NAME_FIELDS))

    device_row = _catalog_row(catalog.devices, values["device"])
    model_row = _catalog_row(catalog.models, values["model"])
    pick = [
        FormField("model", "Model", values["model"], catalog_choices(catalog.models.frame, custom="Custom model (type its shape below)"),
                  errors=errors.get("model", [])),
        FormField("quantization", "Quantization", values["quantization"], catalog_choices(catalog.quantizations.frame),
                  errors=errors.get("quantization", [])),
        FormField("device", "Device", values["device"], catalog_choices(catalog.devices.frame, custom="Custom device (type its figures below)"),
                  errors=errors.get("device", [])),
    ]
    page = CalculatorPage(
        pick=pick,
        workload=workload_fields(values, errors, catalog.runtimes),
        custom_device=_inline_fields(values, errors, device_row, Device, DEVICE_INLINE, "device_name",
                                     {"kind": [("", "—")] + list(DeviceKind.choices)}),
        custom_model=_inline_fields(values, errors, model_row, ModelArchitecture, MODEL_INLINE, "model_name", {
            "generation_mode": [("", "—")] + list(GenerationMode.choices),
            "diffusion_attention": [("", "—")] + list(DiffusionAttention.choices)}),
        planner=[
            FormField("target_tokens_per_s", "Target tok/s per request", values.get("target_tokens_per_s", ""),
                      placeholder="any", errors=errors.get("target_tokens_per_s", [])),
            FormField("max_devices", "Up to this many devices", values.get("max_devices", ""),
                      placeholder=str(DEFAULT_MAX_DEVICES), errors=errors.get("max_devices", []), step="1"),
        ],
        errors=errors, record=record, plan=plan, query=query_string(values),
    )
    for section in (page.workload,):
        for f in section:
            if f.name == "usd_per_kwh":
                f.placeholder = f"{settings.HWFIT_USD_PER_KWH:g} (site default)"
    if record is not None:
        page.offers = _offer_rows(catalog, record["device"]["slug"])
        page.api_prices = _api_price_rows(catalog, record["model"]["slug"])
    return page


def api_query(query: QueryDict, record: dict[str, Any]) -> str:
    """The query of `GET /api/v1/estimate/` giving the same figures; "" when a part is typed in
    (the API's GET form names catalog records only; its POST takes inline objects)."""
    if any(record[part]["inline"] for part in PICK_FIELDS):
        return ""
    values = query_values(query, ("runtime", *WORKLOAD_FIELDS))
    return query_string({"model": record["model"]["slug"], "quantization": record["quantization"]["slug"],
                         "device": record["device"]["slug"], **values})
