"""What a calculator answer shows beside its figures: the memory of one device as a bar, the
verdict as a sentence, the costs at the workload's own batch. Plain functions of an estimate
result (the API's result object); the figures themselves are the estimator's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from estimator.core import cost
from estimator.core.memory import MemoryBreakdown


def finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def batch_costs(record: dict[str, Any]) -> tuple[float | None, float | None]:
    """Electricity and rent per 1M tokens at the record's own batch (`tokens_per_s` is all requests'),
    through the core's cost functions; the record carries them at batch 1 and at the largest batch."""
    tokens = nan_if_none(record["tokens_per_s"])
    energy = cost.energy_usd_per_mtok(nan_if_none(record["cost"]["power_w"]), tokens, nan_if_none(record["cost"]["usd_per_kwh"]))
    rental = cost.rental_usd_per_mtok(nan_if_none(record["cost"]["rental_usd_per_hour"]), tokens)
    return finite(energy), finite(rental)


def nan_if_none(value: Any) -> float:
    return np.nan if value is None else float(value)


MEMORY_PARTS = (("weights_bytes", "Weights"), ("vision_bytes", "Vision encoder"), ("kv_cache_bytes", "KV cache"),
                ("activations_bytes", "Activations"), ("logits_bytes", "Logits"), ("overhead_bytes", "Runtime overhead"))


@dataclass(frozen=True)
class MemoryPart:
    key: str
    label: str
    bytes: float | None
    x_percent: float          # where its segment starts on the bar, % of the bar
    width_percent: float


def breakdown(memory: dict[str, Any]) -> MemoryBreakdown:
    """A result's memory section as the core's breakdown (missing parts as NaN)."""
    return MemoryBreakdown(**{name: np.float64(nan_if_none(memory.get(f"{name}_bytes"))) for name in (
        "weights_embedding", "weights_dense", "weights_experts", "vision", "kv_cache", "activations", "logits",
        "overhead")})


def per_device_bytes(memory: dict[str, Any], device_count: int) -> float | None:
    """Memory one device holds over `device_count` devices: the core's tensor-parallel rule
    (`MemoryBreakdown.per_device`: weights and KV cache split, the rest on every device)."""
    return finite(breakdown(memory).per_device(max(device_count or 1, 1)))


# The parts tensor parallelism splits over the devices (MemoryBreakdown.per_device); the others
# are on every device. A test holds the bar's parts to the core's per-device total.
SPLIT_PARTS = ("weights_bytes", "kv_cache_bytes")


def memory_parts(memory: dict[str, Any], device_count: int = 1) -> tuple[list[MemoryPart], float | None]:
    """The memory of one device as bar segments against its usable memory (or its need when larger).

    Returns the parts and where usable memory ends on the bar (% of the bar; None when unknown).
    """
    count = max(device_count or 1, 1)
    total = per_device_bytes(memory, count) or 0.0
    memory = {key: (None if finite(value) is None else finite(value) / count) if key in SPLIT_PARTS else value
              for key, value in memory.items()}
    usable = finite(memory.get("usable_bytes"))
    scale = max(usable or 0.0, total)
    parts, x = [], 0.0
    for key, label in MEMORY_PARTS:
        value = finite(memory.get(key))
        width = 0.0 if not value or not scale else 100.0 * value / scale
        parts.append(MemoryPart(key=key.removesuffix("_bytes"), label=label, bytes=value, x_percent=x,
                                width_percent=width))
        x += width
    usable_at = None if not usable or not scale else 100.0 * usable / scale
    return parts, usable_at


def verdict_text(record: dict[str, Any]) -> str:
    """The verdict as a sentence."""
    verdict = record["verdict"]
    count = record["workload"]["device_count"] or 1
    if verdict == "fits":
        return "Fits on one device" if count == 1 else f"Fits on {count} devices ({record['workload']['parallel']} split)"
    if verdict == "offload":
        return f"Runs with {record['layers_on_device']} layers on the device, the rest offloaded to host RAM"
    if verdict == "multi_device":
        needed = record["devices_needed"]
        # The core counts tensor-parallel sizes of 2, 4 and 8; the planner tries every count.
        return (f"Too big for one: needs {needed} devices as a tensor-parallel group of 2, 4 or 8 (the planner tries every count)"
                if needed else "Too big for one: needs more than 8 devices")
    if verdict == "no_fit":
        return "Does not fit, even offloading to host RAM"
    if verdict == "unsupported":
        return "This format has no kernels for this kind of device"
    return "Unknown: the device's memory or the model's shape is not known"
