"""The model page's sweeps and its diffusion panel, each one call to the estimate service.

A sweep varies one workload value (context, tokens per forward, batch) on a few devices; all of a
page's sweeps go to `estimator.services.estimate_scenarios` as one batch — the code path of
`POST /api/v1/estimate/` — so each point is the API's answer for that scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from estimator import services

from .controls import Controls

MAX_SWEEP_CONTEXT = 131_072
SWEEP_BATCHES = (1, 2, 4, 8, 16, 32, 64)
# Architecture fields that make two catalog rows the same network (a diffusion model and the
# autoregressive model it was trained from share them; no catalog field links the two).
SHAPE_FIELDS = ("n_layers", "hidden_size", "n_heads", "n_kv_heads", "intermediate_size", "n_experts",
                "n_experts_active", "moe_intermediate_size")


def ar_sibling(model: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The autoregressive model a diffusion model shares its architecture with, if the catalog has one.

    Same shape (SHAPE_FIELDS, layers and hidden size known); of several, the same family first,
    then the closest parameter count, then the shortest name (the base over its fine-tunes).
    """
    if model["generation_mode"] != "block_diffusion" or not model["n_layers"] or not model["hidden_size"]:
        return None
    same = [m for m in models if m["generation_mode"] == "autoregressive"
            and all(m[name] == model[name] for name in SHAPE_FIELDS)]
    if not same:
        return None
    return min(same, key=lambda m: (m["family"] != model["family"], abs(m["total_params_b"] - model["total_params_b"]),
                                    len(m["name"]), m["name"]))


def context_points(max_context: int | None, chosen: int | None) -> list[int]:
    """Contexts from 1,024 tokens doubling to the model's window (at most 131,072), and the chosen one."""
    top = min(max_context or MAX_SWEEP_CONTEXT, MAX_SWEEP_CONTEXT)
    points, context = [], 1024
    while context <= top:
        points.append(context)
        context *= 2
    if chosen and chosen <= (max_context or chosen):
        points.append(chosen)
    return sorted(set(points))


def per_forward_points(block_size: int | None, own: float | None) -> list[float]:
    """Tokens committed per forward: 1 doubling to the block, and the model's own figure."""
    top = block_size or 256
    points, tokens = [], 1
    while tokens <= top:
        points.append(float(tokens))
        tokens *= 2
    if own and own <= top:
        points.append(float(own))
    return sorted(set(points))


@dataclass
class SweepRequest:
    """Scenarios of one batch, and which part of the page each result belongs to."""

    scenarios: list[dict[str, Any]] = field(default_factory=list)
    parts: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, part: str, x: Any, scenario: dict[str, Any]) -> None:
        self.scenarios.append(scenario)
        self.parts.append((part, x))

    def run(self, *, catalog: services.Catalog | None = None
            ) -> tuple[dict[str, list[tuple[Any, dict[str, Any]]]], dict[str, list[str]]]:
        """(part -> [(x, result)], field -> reasons), from one estimate call.

        A scenario the service refuses refuses the batch: its reasons come back by field (each
        reason once), as the form shows them.
        """
        if not self.scenarios:
            return {}, {}
        try:
            results = services.estimate_scenarios(scenarios=self.scenarios, catalog=catalog)
        except services.ScenarioInputError as exc:
            problems: dict[str, list[str]] = {}
            for scenario_problems in exc.errors.values():
                for name, reasons in scenario_problems.items():
                    for reason in reasons if isinstance(reasons, list) else [reasons]:
                        if str(reason) not in problems.setdefault(name, []):
                            problems[name].append(str(reason))
            return {}, problems
        except ValidationError as exc:
            return {}, {"form": exc.messages}
        out: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
        for (part, x), result in zip(self.parts, results):
            out.setdefault(part, []).append((x, result))
        return out, {}


def base_scenario(controls: Controls, *, model: str, quantization: str, device: str, runtime: str | None) -> dict[str, Any]:
    scenario = {"model": model, "quantization": quantization, "device": device, **controls.workload}
    if runtime:
        scenario["runtime"] = runtime
    return scenario


@dataclass
class DiffusionRow:
    device: dict[str, Any]
    diffusion: dict[str, Any]
    autoregressive: dict[str, Any] | None

    @property
    def speedup(self) -> float | None:
        """Diffusion tokens/s over the sibling's AR decode tokens/s (both the estimate's)."""
        fast = self.diffusion["speed"]["diffusion_tokens_per_s"]
        slow = None if self.autoregressive is None else self.autoregressive["speed"]["decode_tokens_per_s"]
        return fast / slow if fast and slow else None


@dataclass
class DiffusionPanel:
    sibling: dict[str, Any]
    rows: list[DiffusionRow] = field(default_factory=list)
    note: str = ""
    per_forward: list[tuple[float, dict[str, Any] | None, dict[str, Any] | None]] = field(default_factory=list)
    batches: list[tuple[int, dict[str, Any] | None, dict[str, Any] | None]] = field(default_factory=list)

    @property
    def wins_from(self) -> float | None:
        return diffusion_wins_from(self.per_forward)

    @property
    def stops_winning_at(self) -> int | None:
        return diffusion_stops_winning_at(self.batches)


def _faster(diffusion: dict[str, Any] | None, autoregressive: dict[str, Any] | None) -> bool | None:
    fast = None if diffusion is None else diffusion["speed"]["diffusion_tokens_per_s"]
    slow = None if autoregressive is None else autoregressive["speed"]["decode_tokens_per_s"]
    return None if fast is None or slow is None else fast > slow


def diffusion_wins_from(points: list[tuple[Any, dict[str, Any] | None, dict[str, Any] | None]]) -> Any | None:
    """The first point (tokens per forward, ascending) from which diffusion is faster than AR decode."""
    for x, diffusion, autoregressive in points:
        if _faster(diffusion, autoregressive):
            return x
    return None


def diffusion_stops_winning_at(points: list[tuple[Any, dict[str, Any] | None, dict[str, Any] | None]]) -> Any | None:
    """The first batch (ascending) at which AR decode is at least as fast as diffusion, after diffusion led."""
    led = False
    for x, diffusion, autoregressive in points:
        faster = _faster(diffusion, autoregressive)
        if faster:
            led = True
        elif faster is False and led:
            return x
    return None


def diffusion_rows(records: list[dict[str, Any]], sibling_records: list[dict[str, Any]]) -> list[DiffusionRow]:
    """The diffusion model and its sibling side by side per device, fastest diffusion first."""
    ar_by_device = {r["device"]["slug"]: r for r in sibling_records}
    rows = [DiffusionRow(device=r["device"], diffusion=r, autoregressive=ar_by_device.get(r["device"]["slug"]))
            for r in records if r["speed"]["diffusion_tokens_per_s"] is not None]
    rows.sort(key=lambda row: -row.diffusion["speed"]["diffusion_tokens_per_s"])
    return rows
