"""Estimate results as page rows: grouped by verdict, sorted by grade, each with its memory bar.

Everything here reads the API's result objects (`estimator.services.result_records`): it names,
groups and sorts what the estimator computed, and computes no figure of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from estimator.core.grades import GRADES

from .controls import Controls, calculator_url
from .templatetags.hwfit_format import gb

# Verdict -> page group; `unsupported` (no kernels for the device kind) does not fit either.
GROUP_OF_VERDICT = {"fits": "fits", "offload": "offload", "multi_device": "multi_device", "no_fit": "no_fit",
                    "unsupported": "no_fit", "unknown": "unknown"}
GROUP_ORDER = ("fits", "offload", "multi_device", "no_fit", "unknown")


@dataclass(frozen=True)
class Segment:
    """One part of a memory bar, as SVG coordinates in percent of the bar's width."""

    name: str
    bytes: float
    x: float
    width: float


@dataclass(frozen=True)
class MemoryBar:
    """What a run needs (weights, KV cache, activations, overhead) against the usable memory.

    The bar spans max(needed, usable), so a configuration that does not fit overflows the usable
    mark; drawn as SVG attributes, it needs no script and no inline style.
    """

    segments: tuple[Segment, ...]
    total: float | None
    usable: float | None
    usable_x: float | None

    @property
    def known(self) -> bool:
        return self.total is not None

    @property
    def fits(self) -> bool:
        return self.known and self.usable is not None and self.total <= self.usable


def _value(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


MEMORY_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("weights", ("weights_bytes", "vision_bytes")),
    ("KV cache", ("kv_cache_bytes",)),
    ("activations", ("activations_bytes", "logits_bytes")),
    ("overhead", ("overhead_bytes",)),
)


def memory_bar(memory: dict[str, Any]) -> MemoryBar:
    total, usable = _value(memory.get("total_bytes")), _value(memory.get("usable_bytes"))
    parts = [(name, sum(_value(memory.get(key)) or 0.0 for key in keys)) for name, keys in MEMORY_PARTS]
    span = max(total or 0.0, usable or 0.0, sum(size for _, size in parts))
    segments, x = [], 0.0
    if total is not None and span > 0:
        for name, size in parts:
            width = 100.0 * size / span
            segments.append(Segment(name=name, bytes=size, x=round(x, 3), width=round(width, 3)))
            x += width
    usable_x = None if usable is None or span <= 0 else round(100.0 * usable / span, 3)
    return MemoryBar(segments=tuple(segments), total=total, usable=usable, usable_x=usable_x)


def grade_rank(grade: str | None) -> tuple[int, int]:
    """Order of grades: SS first, ? last; of one grade, fewer devices first ("S" before "S×4")."""
    base, _, devices = (grade or "").partition("\u00d7")
    return (GRADES.index(base) if base in GRADES else len(GRADES), int(devices or 1))


@dataclass
class PageRow:
    """One estimate on a page: the API's result object, where it sits and why."""

    record: dict[str, Any]
    group: str
    reason: str
    memory: MemoryBar
    calculator_url: str

    @property
    def speed_unknown(self) -> bool:
        return self.record["tokens_per_s"] is None


@dataclass
class VerdictGroup:
    key: str
    title: str
    rows: list[PageRow] = field(default_factory=list)


def _reason(record: dict[str, Any], *, device_kind: str | None) -> str:
    """Why a row has no figure, or what its verdict asks of the user."""
    verdict, memory, working = record["verdict"], record["memory"], record["working"]
    if verdict == "unsupported":
        kind = f" on a {device_kind.upper() if device_kind in ('gpu', 'cpu', 'npu', 'tpu') else device_kind}" if device_kind else ""
        return f"{record['quantization']['name']} has no kernels{kind}: choose another quantization."
    if verdict == "unknown":
        if memory["usable_bytes"] is None:
            return "The device's memory size is not published (a configurable part): give it in the calculator."
        return "A shape field the memory needs is not stated by any source for this model."
    if verdict == "no_fit":
        return (f"Needs {gb(memory['total_bytes'])} with {gb(memory['usable_bytes'])} usable per device; "
                "no split over up to 8 devices, nor offload, makes it fit.")
    if verdict == "offload":
        return f"{record['layers_on_device']} layers on the device, the rest in host memory (slow)."
    if verdict == "multi_device":
        return f"Needs {record['devices_needed']} devices (tensor parallel)."
    if record["tokens_per_s"] is None:
        # Only block-diffusion models have a diffusion block: without one, the model is autoregressive.
        if record["mode"] == "diffusion" and record["workload"]["block_size"] is None:
            return "Autoregressive: it has no diffusion figure (choose the decode mode)."
        if working["bandwidth_bytes_per_s"] is None:
            return "The device's memory bandwidth is not published: no speed."
        if working["peak_flops"] is None:
            return "No peak FLOP/s is published for the compute dtype: no speed for this mode."
        return "No speed: the estimator cannot time this configuration."
    return ""


def page_rows(records: list[dict[str, Any]], controls: Controls, *,
              device_kinds: dict[str, str] | None = None, by_grade: bool = True) -> list[PageRow]:
    """Result objects as page rows, in grade order then fastest first (unknown speed last), or
    in the given order when not `by_grade`."""
    rows = []
    for record in records:
        kind = (device_kinds or {}).get(record["device"]["slug"])
        rows.append(PageRow(record=record, group=GROUP_OF_VERDICT.get(record["verdict"], "unknown"),
                            reason=_reason(record, device_kind=kind), memory=memory_bar(record["memory"]),
                            calculator_url=calculator_url(record, controls)))
    if by_grade:
        rows.sort(key=lambda row: (grade_rank(row.record["grade"]), -(row.record["tokens_per_s"] or -1.0)))
    return rows


def verdict_groups(rows: list[PageRow], *, device_count: int = 1) -> list[VerdictGroup]:
    """Rows by verdict, in GROUP_ORDER; empty groups are left out."""
    one = "one device" if device_count == 1 else f"{device_count} devices"
    titles = {
        "fits": f"Runs on {one}",
        "offload": "Runs with offload (some layers in host memory)",
        "multi_device": "Needs more devices",
        "no_fit": "Does not fit",
        "unknown": "Unknown",
    }
    groups = {key: VerdictGroup(key=key, title=titles[key]) for key in GROUP_ORDER}
    for row in rows:
        groups[row.group].rows.append(row)
    return [group for group in groups.values() if group.rows]
