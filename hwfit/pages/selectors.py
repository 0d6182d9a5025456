"""What the model and device pages show, read from the estimator's services.

The device page's table comes from `estimator.services.compatibility` (behind
`/api/v1/devices/<slug>/compatibility/`); the model page's tables and sweeps from
`estimator.services.estimate_scenarios` (behind `/api/v1/estimate/`), in two batches on one
catalog load. So a page and the API never disagree, and each page costs a fixed number of
queries whatever the catalog's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from devices.models import Device
from estimator import services
from estimator.core.cost import api_blended_usd_per_mtok
from estimator.core.hardware import FP16_ACCUMULATE_RUNTIMES, GGUF_RUNTIMES, PEAK_FALLBACK
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime

from .commands import RunCommand, RunSetup, run_commands
from .controls import Controls
from .payback import Payback, payback
from .sweeps import (
    SHAPE_FIELDS, SWEEP_BATCHES, DiffusionPanel, SweepRequest, ar_sibling, base_scenario, context_points,
    diffusion_rows, per_forward_points,
)
from .tables import PageRow, VerdictGroup, page_rows, verdict_groups

# The quantization a page shows first: what most people run (a GGUF Q4_K_M on their own
# hardware), or the checkpoint's own precision where that cannot run (TPUs, NPUs) or where the
# estimate's runtime reads checkpoints (block-diffusion models run through transformers).
DEFAULT_QUANTIZATION = "q4-k-m"
CHECKPOINT_QUANTIZATION = "bf16-safetensors"
PEAK_LABELS = {"fp4_tflops": "FP4", "fp8_tflops": "FP8", "int8_tops": "INT8", "fp16_tflops": "FP16",
               "bf16_tflops": "BF16", "fp32_tflops": "FP32", "shader_fp16_tflops": "FP16 shader (non-tensor)",
               "fp4_tflops/2": "half the FP4", "fp4_tflops/4": "a quarter of the FP4"}


@dataclass
class Choices:
    """The options of a page's form, from the catalog."""

    quantizations: list[dict[str, Any]]
    runtimes: list[dict[str, Any]]

    @classmethod
    def load(cls) -> Choices:
        quantizations = list(QuantizationFormat.objects.order_by("-bits_per_weight", "name").values(
            "slug", "name", "family", "quality_tier", "native_device_kinds", "compute_dtype"))
        runtimes = list(Runtime.objects.order_by("name").values("slug", "name", "homepage"))
        return cls(quantizations=quantizations, runtimes=runtimes)

    def quantization(self, slug: str) -> dict[str, Any] | None:
        return next((q for q in self.quantizations if q["slug"] == slug), None)

    def runtime_name(self, slug: str) -> str:
        return next((r["name"] for r in self.runtimes if r["slug"] == slug), slug)


def _workload(controls: Controls) -> dict[str, Any]:
    return {name: value for name, value in controls.workload.items() if name != "mode"}


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"form": exc.messages}


def _pick_quantization(controls: Controls, choices: Choices, *, default: str) -> dict[str, Any] | None:
    if controls.quantization:
        chosen = choices.quantization(controls.quantization)
        if chosen is None:
            controls.errors["quantization"] = [f"Unknown quantization '{controls.quantization}'."]
        return chosen
    return choices.quantization(default) or (choices.quantizations[0] if choices.quantizations else None)


def _check_runtime(controls: Controls, choices: Choices) -> None:
    if controls.runtime and not any(r["slug"] == controls.runtime for r in choices.runtimes):
        controls.errors["runtime"] = [f"Unknown runtime '{controls.runtime}': one of "
                                      f"{', '.join(sorted(r['slug'] for r in choices.runtimes))}."]


def _compatibility_table(controls: Controls, quantization: dict[str, Any],
                         **subject: str) -> list[dict[str, Any]] | None:
    """One compatibility table as API result objects, or None (errors recorded on the form)."""
    try:
        table = services.compatibility(**subject, quantizations=[quantization["slug"]], runtime=controls.runtime or None,
                                       mode=controls.mode, workload=_workload(controls))
    except ValidationError as exc:
        controls.errors.update(_errors(exc))
        return None
    return table[:]


def runtimes_used(records: list[dict[str, Any]], choices: Choices) -> list[str]:
    """The runtimes the estimates assume, most used first (shown next to the runtime control)."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record["runtime"]] = counts.get(record["runtime"], 0) + 1
    return [choices.runtime_name(slug) for slug, _ in sorted(counts.items(), key=lambda item: -item[1])]


def _tera(peak: float, source: str) -> str:
    return f"{peak / 1e12:,.0f} {'TOPS' if source == 'int8_tops' else 'TFLOPS'}"


def peak_notes(device: Device, records: list[dict[str, Any]], choices: Choices) -> list[str]:
    """Which peak the estimates use, per quantization and runtime, and why when it is not the
    figure of the format's own dtype listed above (a doubled rate, integer kernels, a fallback)."""
    used: dict[tuple[str, str, float, bool], list[str]] = {}
    for record in records:
        working = record["working"]
        if working["peak_flops_source"] and working["peak_flops"] is not None:
            key = (record["quantization"]["name"], working["peak_flops_source"], working["peak_flops"],
                   bool(working["peak_flops_is_fallback"]))
            runtimes = used.setdefault(key, [])
            if record["runtime"] not in runtimes:
                runtimes.append(record["runtime"])
    dtypes = {q["name"]: q["compute_dtype"] for q in choices.quantizations}
    notes = []
    for (quant, source, peak, fallback), runtimes in used.items():
        listed, label = getattr(device, source, None), PEAK_LABELS.get(source, source)
        dtype = dtypes.get(quant, "")
        chain = PEAK_FALLBACK.get(dtype, ())
        own = PEAK_LABELS.get(chain[0], dtype.upper()) if chain else dtype.upper()
        on = f"{quant} on {' and '.join(choices.runtime_name(r) for r in runtimes)}"
        if listed and abs(peak / 1e12 - listed) > 0.005 * listed:
            why = (f"{choices.runtime_name(runtimes[0])} accumulates in FP16, which this card runs at "
                   f"{peak / 1e12 / listed:g}x the FP32-accumulate rate its spec sheet lists"
                   if runtimes[0] in FP16_ACCUMULATE_RUNTIMES else "the runtime's rate differs from the spec sheet's")
            notes.append(f"{on}: the estimate uses {_tera(peak, source)}, not the {listed:,.0f} {label} peak "
                         f"shown above — {why}.")
        elif fallback:
            notes.append(f"{on}: no {own} peak is published for this device; the estimate falls back to the "
                         f"{label} peak ({_tera(peak, source)}), the first published in the chain "
                         f"{' → '.join(PEAK_LABELS.get(c, c) for c in chain)}.")
        elif chain and source != chain[0]:
            why = ("llama.cpp multiplies GGUF blocks with integer dot products" if runtimes[0] in GGUF_RUNTIMES
                   else "the runtime's kernels compute in it")
            notes.append(f"{on}: the estimate uses the {label} peak ({_tera(peak, source)}), not the {own} one of "
                         f"the format's dtype — {why}.")
        else:
            notes.append(f"{on}: the {label} peak shown above ({_tera(peak, source)}).")
    return notes


# --- Device page ------------------------------------------------------------------------------

@dataclass
class DevicePage:
    device: Device
    controls: Controls
    choices: Choices
    quantization: dict[str, Any] | None
    rows: list[PageRow] = field(default_factory=list)
    groups: list[VerdictGroup] = field(default_factory=list)
    runtimes: list[str] = field(default_factory=list)
    peak_notes: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    offers: list[Any] = field(default_factory=list)


def device_page(*, device: Device, controls: Controls) -> DevicePage:
    """Every catalog model on one device at the form's quantization and workload."""
    choices = Choices.load()
    native = choices.quantization(DEFAULT_QUANTIZATION)
    default = DEFAULT_QUANTIZATION if native and device.kind in (native["native_device_kinds"] or [device.kind]) \
        else CHECKPOINT_QUANTIZATION
    page = DevicePage(device=device, controls=controls, choices=choices,
                      quantization=_pick_quantization(controls, choices, default=default),
                      offers=list(device.cloud_offers.order_by("usd_per_hour")))
    _check_runtime(controls, choices)
    models = {m["slug"]: m for m in ModelArchitecture.objects.values("slug", "family", "generation_mode")}
    page.families = sorted({m["family"] for m in models.values() if m["family"]})
    if controls.errors or page.quantization is None:
        return page
    records = _compatibility_table(controls, page.quantization, device_slug=device.slug)
    if records is None:
        return page
    page.runtimes = runtimes_used(records, choices)
    page.peak_notes = peak_notes(device, records, choices)
    if controls.family:
        records = [r for r in records if models.get(r["model"]["slug"], {}).get("family") == controls.family]
    if controls.fits_only:
        records = [r for r in records if r["verdict"] == "fits"]
    page.rows = page_rows(records, controls, device_kinds={device.slug: device.kind})
    page.groups = verdict_groups(page.rows, device_count=controls.workload.get("device_count", 1))
    return page


# --- Model page -------------------------------------------------------------------------------

@dataclass
class CloudCost:
    record: dict[str, Any]
    provider: str
    tier: str
    as_of: str


@dataclass
class ApiCost:
    provider: str
    label: str
    usd_per_1m_input: float
    usd_per_1m_output: float
    blended: float
    as_of: str


@dataclass
class ModelPage:
    model: ModelArchitecture
    controls: Controls
    choices: Choices
    quantization: dict[str, Any] | None
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[PageRow] = field(default_factory=list)
    groups: list[VerdictGroup] = field(default_factory=list)
    runtimes: list[str] = field(default_factory=list)
    reference: dict[str, Any] | None = None          # the detailed device's result object
    quantization_rows: list[PageRow] = field(default_factory=list)
    energy: list[dict[str, Any]] = field(default_factory=list)
    cloud: list[CloudCost] = field(default_factory=list)
    api: list[ApiCost] = field(default_factory=list)
    context_records: list[dict[str, Any]] = field(default_factory=list)
    vendors: list[str] = field(default_factory=list)
    commands: list[RunCommand] = field(default_factory=list)
    payback: Payback | None = None
    diffusion: DiffusionPanel | None = None
    notes: list[str] = field(default_factory=list)


def default_quantization(model: ModelArchitecture) -> str:
    return CHECKPOINT_QUANTIZATION if model.generation_mode == "block_diffusion" else DEFAULT_QUANTIZATION


# The device the model page details (quantization table, payback, commands, sweeps) unless the
# form names one: the consumer card most people ask about. Fixed, not chosen from the estimates,
# so that the whole page is ONE estimate batch.
DEFAULT_DETAIL_DEVICE = "nvidia-geforce-rtx-4090"
CONTEXT_SWEEP_DEVICES = 4


def detail_device(devices: dict[str, dict[str, Any]], chosen: str) -> str | None:
    """The form's device, else DEFAULT_DETAIL_DEVICE, else the catalog's first device."""
    for slug in (chosen, DEFAULT_DETAIL_DEVICE):
        if slug in devices:
            return slug
    return next(iter(devices), None)


def context_sweep_devices(devices: dict[str, dict[str, Any]], reference: str) -> list[str]:
    """The detail device and those with the most memory bandwidth (what decode speed follows)."""
    fastest = sorted((d for d in devices.values() if d["memory_bandwidth_gbs"]),
                     key=lambda d: (-d["memory_bandwidth_gbs"], d["name"]))
    return list(dict.fromkeys([reference] + [d["slug"] for d in fastest]))[:CONTEXT_SWEEP_DEVICES]


def _cloud_costs(records: list[dict[str, Any]], limit: int = 6) -> list[CloudCost]:
    """The cheapest $/1M tokens on rented devices that run the model, with the offer behind each
    (the estimate names it: provider, tier, date)."""
    priced = sorted((r for r in records if r["cost"]["rental_usd_per_mtok"] is not None
                     and r["verdict"] in ("fits", "multi_device")), key=lambda r: r["cost"]["rental_usd_per_mtok"])
    return [CloudCost(record=r, provider=r["cost"]["rental_provider"], tier=r["cost"]["rental_tier"],
                      as_of=r["cost"]["rental_as_of"]) for r in priced[:limit]]


def _api_costs(model: ModelArchitecture) -> list[ApiCost]:
    prices = list(ApiPrice.objects.filter(model=model).order_by("provider", "model_label"))
    blended = api_blended_usd_per_mtok([p.usd_per_1m_input for p in prices], [p.usd_per_1m_output for p in prices])
    costs = [ApiCost(provider=p.provider, label=p.model_label, usd_per_1m_input=p.usd_per_1m_input,
                     usd_per_1m_output=p.usd_per_1m_output, blended=float(b), as_of=p.as_of)
             for p, b in zip(prices, blended)]
    return sorted(costs, key=lambda c: c.blended)


def model_page(*, model: ModelArchitecture, controls: Controls) -> ModelPage:
    """One model on every catalog device at the form's quantization and workload, with its costs.

    ONE catalog load and ONE estimate batch (the code path of `POST /api/v1/estimate/`): the model
    on every device, the quantization table and sweeps on the detail device, and the diffusion
    model's autoregressive sibling on every device.
    """
    choices = Choices.load()
    page = ModelPage(model=model, controls=controls, choices=choices,
                     quantization=_pick_quantization(controls, choices, default=default_quantization(model)))
    _check_runtime(controls, choices)
    page.devices = {d["slug"]: d for d in Device.objects.order_by("vendor", "name").values(
        "slug", "name", "vendor", "kind", "launch_price_usd", "memory_bandwidth_gbs")}
    page.vendors = sorted({d["vendor"] for d in page.devices.values()})
    if controls.device and controls.device not in page.devices:
        controls.errors["device"] = [f"Unknown device '{controls.device}'."]
    reference = detail_device(page.devices, controls.device)
    if controls.errors or page.quantization is None or reference is None:
        return page
    # The catalog is kept in memory per catalog version.
    results, problems = _estimate_batch(page, reference).run(catalog=services.catalog_current())
    if problems:
        controls.errors.update(problems)
        return page
    records = [record for _, record in results["device"]]
    page.runtimes = runtimes_used(records, choices)
    page.reference = next(r for r in records if r["device"]["slug"] == reference)
    page.energy = sorted((r for r in records if r["verdict"] == "fits" and r["cost"]["energy_usd_per_mtok"] is not None),
                         key=lambda r: r["cost"]["energy_usd_per_mtok"])[:6]
    page.cloud = _cloud_costs(records)
    page.api = _api_costs(model)
    shown = [r for r in records if _device_shown(page.devices[r["device"]["slug"]], controls)]
    if controls.fits_only:
        shown = [r for r in shown if r["verdict"] == "fits"]
    page.rows = page_rows(shown, controls, device_kinds=_kinds(page))
    page.groups = verdict_groups(page.rows, device_count=controls.workload.get("device_count", 1))
    page.payback = payback(page.reference, launch_price_usd=page.devices[reference]["launch_price_usd"],
                           daily_tokens=controls.daily_tokens)
    page.commands = run_commands(_run_setup(model, page.quantization, page.reference))
    # In the catalog's order (most bits first), not by grade: a table of the formats.
    page.quantization_rows = page_rows([r for _, r in results.get("quantization", [])], controls,
                                       device_kinds=_kinds(page), by_grade=False)
    page.context_records = [result for _, result in results.get("context", [])]
    if page.diffusion is not None:
        _diffusion_panel(page, records, results)
    return page


def _kinds(page: ModelPage) -> dict[str, str]:
    return {slug: d["kind"] for slug, d in page.devices.items()}


def _run_setup(model: ModelArchitecture, quantization: dict[str, Any], record: dict[str, Any]) -> RunSetup:
    workload = record["workload"]
    return RunSetup(
        hf_repo=model.hf_repo, model_slug=model.slug, diffusion=model.generation_mode == "block_diffusion",
        quant_name=quantization["name"], quant_family=quantization["family"], compute_dtype=quantization["compute_dtype"],
        runtime=record["runtime"], context_tokens=workload["context_tokens"], device_count=workload["device_count"] or 1,
        layers_on_device=record["layers_on_device"] if record["verdict"] == "offload" else None,
        block_size=workload["block_size"], tokens_per_forward=model.tokens_per_forward,
    )


def _estimate_batch(page: ModelPage, reference: str) -> SweepRequest:
    """Every scenario of the page, in one batch: the model on every device, the quantizations and
    the context sweep on the detail device, and for a diffusion model its sibling and sweeps."""
    model, controls, quantization = page.model, page.controls, page.quantization["slug"]
    runtime = controls.runtime or None
    request = SweepRequest()
    for device in page.devices:
        request.add("device", device, base_scenario(controls, model=model.slug, quantization=quantization,
                                                    device=device, runtime=runtime))
    for quant in page.choices.quantizations:
        request.add("quantization", quant["slug"], base_scenario(controls, model=model.slug, quantization=quant["slug"],
                                                                 device=reference, runtime=runtime))
    for device in context_sweep_devices(page.devices, reference):
        for context in context_points(model.max_context, controls.workload.get("context_tokens")):
            request.add("context", context, {**base_scenario(controls, model=model.slug, quantization=quantization,
                                                             device=device, runtime=runtime), "context_tokens": context})
    sibling = _sibling(page)
    if sibling is None:
        return request
    ar_workload = {k: v for k, v in controls.workload.items() if k not in ("mode", "tokens_per_forward")}
    for device in page.devices:
        request.add("sibling", device, {"model": sibling["slug"], "quantization": quantization, "device": device,
                                        **ar_workload, "mode": "decode"})
    diffusion = {**base_scenario(controls, model=model.slug, quantization=quantization, device=reference,
                                 runtime=runtime), "mode": "diffusion"}
    autoregressive = {"model": sibling["slug"], "quantization": quantization, "device": reference,
                      **ar_workload, "mode": "decode"}
    for per_forward in per_forward_points(model.block_size, model.tokens_per_forward):
        request.add("per_forward", per_forward, {**diffusion, "tokens_per_forward": per_forward})
    for batch in SWEEP_BATCHES:
        request.add("batch", batch, {**diffusion, "batch": batch})
        request.add("ar_batch", batch, {**autoregressive, "batch": batch})
    return request


def _diffusion_panel(page: ModelPage, records: list[dict[str, Any]],
                     results: dict[str, list[tuple[Any, dict[str, Any]]]]) -> None:
    sibling_records = [r for _, r in results.get("sibling", [])]
    shown = {row.record["device"]["slug"] for row in page.rows}
    page.diffusion.rows = [row for row in diffusion_rows(records, sibling_records) if row.device["slug"] in shown]
    ar_batches = dict(results.get("ar_batch", []))
    ar = ar_batches.get(page.controls.workload.get("batch", 1))
    page.diffusion.per_forward = [(x, result, ar) for x, result in results.get("per_forward", [])]
    page.diffusion.batches = [(x, result, ar_batches.get(x)) for x, result in results.get("batch", [])]


def _sibling(page: ModelPage) -> dict[str, Any] | None:
    """The autoregressive sibling of a diffusion model, with the panel set up (or a note why not)."""
    model = page.model
    if model.generation_mode != "block_diffusion":
        return None
    shapes = list(ModelArchitecture.objects.values("slug", "name", "family", "generation_mode", "total_params_b",
                                                   "max_context", *SHAPE_FIELDS))
    sibling = ar_sibling(next(m for m in shapes if m["slug"] == model.slug), shapes)
    if sibling is None:
        return None
    page.diffusion = DiffusionPanel(sibling=sibling)
    context = page.controls.workload.get("context_tokens")
    if context and sibling["max_context"] and context > sibling["max_context"]:
        page.diffusion.note = (f"{sibling['name']} reads at most {sibling['max_context']:,} tokens: no comparison at "
                               f"{context:,} tokens of context.")
        return None
    return sibling


def _device_shown(device: dict[str, Any], controls: Controls) -> bool:
    return (not controls.vendor or device["vendor"] == controls.vendor) and (not controls.kind or device["kind"] == controls.kind)
