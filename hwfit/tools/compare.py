"""Compare: two to four devices for one model, or two to four models on one device, same workload.

The GET form repeats the estimate API's names (`device=a&device=b`, or `model=a&model=b`); each
pair is validated by the API's scenario serializer and all are estimated in ONE
`estimate_scenarios` call. The page shows them side by side and hands the chart its data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from estimator import services
from estimator.api.serializers import ScenarioSerializer
from hwfit.tools.form import (
    WORKLOAD_FIELDS, FormField, catalog_choices, flat_errors, query_string, query_values, workload_fields,
)

MAX_ITEMS = 4
DEFAULT_DEVICES = ("nvidia-geforce-rtx-4090", "nvidia-h100-sxm", "apple-m2-max")
DEFAULT_MODEL = "llama-3-1-8b"
DEFAULT_QUANTIZATION = "q4-k-m"


@dataclass
class ComparePage:
    what: str                                   # "devices" or "models": what varies
    fixed: FormField                            # the one model (or device) they share
    slots: list[FormField]                      # the devices (or models) compared
    quantization: FormField
    workload: list[FormField]
    errors: dict[str, list[str]]
    records: list[dict[str, Any]] = field(default_factory=list)
    calculator_queries: list[str] = field(default_factory=list)
    chart: dict[str, Any] = field(default_factory=dict)
    query: str = ""


def _given(query: QueryDict, name: str) -> list[str]:
    """A repeated field's non-empty values, first occurrence kept, in order."""
    return list(dict.fromkeys(value.strip() for value in query.getlist(name) if value.strip()))


def compare_page(query: QueryDict) -> ComparePage:
    catalog = services.catalog_current()  # kept in memory per catalog version
    errors: dict[str, list[str]] = {}
    models, devices = _given(query, "model"), _given(query, "device")
    values = query_values(query, ("quantization", "runtime", *WORKLOAD_FIELDS))
    values.setdefault("quantization", DEFAULT_QUANTIZATION)
    if not models and not devices:
        models, devices = [DEFAULT_MODEL], list(DEFAULT_DEVICES)
    what = "models" if len(models) > 1 or (query.get("what") == "models" and len(devices) <= 1) else "devices"
    if len(models) > 1 and len(devices) > 1:
        errors["general"] = ["Compare several devices for one model, or several models on one device — not both."]
    varying, fixed_values = (models, devices) if what == "models" else (devices, models)
    if len(varying) > MAX_ITEMS:
        errors.setdefault(what, []).append(f"Compare at most {MAX_ITEMS} {what} at a time.")
    fixed_name, slot_name = ("device", "model") if what == "models" else ("model", "device")
    if not fixed_values:
        errors.setdefault(fixed_name, []).append(f"Choose the {fixed_name} to compare on.")

    records, queries = [], []
    if not errors:
        scenarios, bad = [], False
        for item in varying:
            pair = {slot_name: item, fixed_name: fixed_values[0]}
            serializer = ScenarioSerializer(data={**values, **pair})
            if serializer.is_valid():
                scenarios.append(dict(serializer.validated_data))
            else:
                bad = True
                for name, reasons in flat_errors(serializer.errors).items():
                    errors.setdefault(what if name == slot_name else name, []).extend(
                        r for r in reasons if r not in errors.get(name, []))
        if not bad:
            try:
                records = services.estimate_scenarios(scenarios=scenarios, catalog=catalog)
            except services.ScenarioInputError as exc:
                for index, problems in sorted(exc.errors.items()):
                    for name, reasons in flat_errors(problems).items():
                        target = what if name == slot_name else name
                        prefix = f"{varying[index]}: " if target == what else ""
                        errors.setdefault(target, []).extend(f"{prefix}{r}" for r in reasons
                                                             if f"{prefix}{r}" not in errors.get(target, []))
                records = []
    for record in records:
        queries.append(query_string({"model": record["model"]["slug"], "quantization": record["quantization"]["slug"],
                                     "device": record["device"]["slug"], **{k: v for k, v in values.items()
                                                                          if k != "quantization"}}))

    slot_frame = catalog.models.frame if what == "models" else catalog.devices.frame
    fixed_frame = catalog.devices.frame if what == "models" else catalog.models.frame
    blank = [("", "—")]
    slots = [FormField(slot_name, f"{slot_name.capitalize()} {i + 1}", varying[i] if i < len(varying) else "",
                       blank + catalog_choices(slot_frame), slot=i) for i in range(max(MAX_ITEMS, len(varying)))]
    if errors.get(what):
        slots[0].errors = errors[what]
    page = ComparePage(
        what=what,
        fixed=FormField(fixed_name, fixed_name.capitalize(), fixed_values[0] if fixed_values else "",
                        blank + catalog_choices(fixed_frame), errors=errors.get(fixed_name, [])),
        slots=slots,
        quantization=FormField("quantization", "Quantization", values["quantization"],
                               catalog_choices(catalog.quantizations.frame), errors=errors.get("quantization", [])),
        workload=workload_fields(values, errors, catalog.runtimes),
        errors=errors, records=records, calculator_queries=queries,
        query=query_string({fixed_name: fixed_values[0] if fixed_values else "", **values})
        + "".join(f"&{slot_name}={item}" for item in varying),
    )
    page.chart = compare_chart(records, what)
    return page


def compare_chart(records: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """The chart's data (the page's JSON for static/js/compare.js): labels, speeds, error bands, costs."""
    part = "device" if what == "devices" else "model"
    return {
        "labels": [record[part]["name"] for record in records],
        "verdicts": [record["verdict"] for record in records],
        "tokens_per_s": [record["tokens_per_s"] for record in records],
        "error_band": [record["error_band"] for record in records],
        "modes": [record["mode"] for record in records],
        "energy_usd_per_mtok": [record["cost"]["energy_usd_per_mtok"] for record in records],
        "rental_usd_per_mtok": [record["cost"]["rental_usd_per_mtok"] for record in records],
        "api_usd_per_mtok": [record["cost"]["api_usd_per_mtok"] for record in records],
    }
