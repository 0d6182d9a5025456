"""Import measured runs of real runtimes: parse, link each line to the catalog, store all at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from devices.models import Device
from estimator.calibration.parsers import parse_measured
from estimator.core.devdata import DEVICE_NAMES, MODEL_NAMES, QUANT_NAMES
from estimator.core.priors import base_runtime
from estimator.models import MeasuredRun, MeasuredSource
from models_catalog.models import ModelArchitecture, QuantizationFormat, Runtime

SOURCE_OF_FORMAT = {"csv": MeasuredSource.CSV, "llama-bench-md": MeasuredSource.LLAMA_BENCH,
                    "llama-bench-json": MeasuredSource.LLAMA_BENCH, "vllm": MeasuredSource.VLLM,
                    "sglang": MeasuredSource.SGLANG}


@dataclass
class ImportResult:
    batch: str
    stored: list[MeasuredRun] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"import_batch": self.batch, "stored": len(self.stored), "skipped_lines": self.skipped,
                "errors": self.errors, "ids": [r.pk for r in self.stored]}


class MeasuredImportError(Exception):
    """Some lines could not be imported; nothing was stored. `errors`: [{line, field, reason}]."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(f"{len(errors)} line(s) could not be imported")
        self.errors = errors


class _Lookup:
    """Catalog rows by slug or name (case-insensitive), through the measured-runs name maps."""

    def __init__(self, model, names: dict[str, str | None]):
        self.names = {k.casefold(): v for k, v in names.items()}
        self.by_key: dict[str, Any] = {}
        for row in model.objects.all():
            self.by_key[row.slug.casefold()] = row
            self.by_key[row.name.casefold()] = row

    def find(self, value: str):
        key = value.strip().casefold()
        if key in self.by_key:
            return self.by_key[key]
        mapped = self.names.get(key)
        return self.by_key.get(mapped.casefold()) if mapped else None


def measured_runs_import(*, text: str, fmt: str, defaults: dict[str, Any] | None = None,
                         skip_bad: bool = False) -> ImportResult:
    """Parse `text` and store one MeasuredRun per line, in one transaction.

    A line is bad when it cannot be parsed or names a model, quantization, device or runtime the
    catalog does not have. With bad lines nothing is stored and MeasuredImportError lists them
    all; with `skip_bad` the good lines are stored and the bad ones reported in the result.
    """
    lines, errors = parse_measured(text, fmt, defaults)
    models = _Lookup(ModelArchitecture, MODEL_NAMES)
    quants = _Lookup(QuantizationFormat, QUANT_NAMES)
    devices = _Lookup(Device, DEVICE_NAMES)
    runtimes = {r.slug: r for r in Runtime.objects.all()}
    batch = uuid.uuid4().hex
    rows = []
    for line in lines:
        found = {"model": models.find(line["model"]), "quantization": quants.find(line["quantization"]),
                 "device": devices.find(line["device"]), "runtime": runtimes.get(base_runtime(line["runtime"]))}
        missing = [name for name, row in found.items() if row is None]
        if missing:
            errors.extend({"line": line["line"], "field": name,
                           "reason": f"no catalog {name} {line[name]!r}"} for name in missing)
            continue
        workload = {k: line[k] for k in ("metric", "batch", "numerator", "decode_context", "prompt_len",
                                          "prefill_depth", "prefill_chunk", "n_devices")}
        rows.append(MeasuredRun(
            key=f"L{line['line']}|{line['test']}|b{line['batch']}", source=SOURCE_OF_FORMAT[fmt],
            metric=line["metric"], test=line["test"][:120], batch=line["batch"], n_devices=line["n_devices"],
            tokens_per_s=line["tokens_per_s"], import_batch=batch, note=line["note"],
            record={"format": fmt, "line": line["line"], "runtime": line["runtime"], "workload": workload,
                    "source_line": line["raw"]},
            **found))
    errors.sort(key=lambda e: e["line"])
    if errors and not skip_bad:
        raise MeasuredImportError(errors)
    if not rows:
        raise MeasuredImportError(errors or [{"line": 0, "field": "text", "reason": "no measured lines found"}])
    for row in rows:
        row.full_clean(exclude=["run"])
    with transaction.atomic():
        stored = MeasuredRun.objects.bulk_create(rows)
    return ImportResult(batch=batch, stored=stored, errors=errors, skipped=len({e["line"] for e in errors}))
