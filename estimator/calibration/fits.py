"""Fit a (device, runtime) from its stored runs and store the fit (a new row every time)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from devices.models import Device
from estimator import selectors
from estimator.core import calibrate as cal
from estimator.core.priors import load_priors
from estimator.models import CalibrationFit, CalibrationRun, MeasuredRun, MeasuredSource
from models_catalog.models import Runtime


class CalibrationError(ValueError):
    """A fit cannot be made (too few runs, a device without the figures the roofline needs)."""


def device_row(device: Device) -> dict[str, Any]:
    """The device as the core reads it (catalog columns)."""
    frame = selectors.devices_frame(slugs=[device.slug])
    return frame.iloc[0].to_dict()


def _check_device(device: Device, dtypes: Iterable[str]) -> None:
    if not device.memory_bandwidth_gbs:
        raise CalibrationError(f"device: {device.name} has no memory bandwidth in the catalog")
    for dtype in set(dtypes):
        column = "fp32_tflops" if dtype == "fp32" else None
        if column and not getattr(device, column):
            raise CalibrationError(f"device: {device.name} has no FP32 peak in the catalog (the engine ran fp32)")
        if dtype in ("bf16", "fp16") and not (device.bf16_tflops or device.fp16_tflops or device.fp32_tflops):
            raise CalibrationError(f"device: {device.name} has no FP16/BF16 peak in the catalog")


def fit_store(*, device: Device, runtime: Runtime, result: cal.Calibration, run: CalibrationRun | None = None,
              folds: int = cal.FOLDS, extra: Mapping[str, Any] | None = None) -> CalibrationFit:
    """Store one fit; accepted when its cross-validated median error is known."""
    band = result.band
    params = result.params
    fit = CalibrationFit(
        device=device, runtime=runtime, run=run, eff_m=params["eff_m"], eff_c=params["eff_c"],
        eff_attn=params["eff_attn"], t_fixed_s=params["t_fixed_s"], t_layer_s=params["t_layer_s"],
        t_expert_s=params.get("t_expert_s", 0.0), error_p10_pct=band["p10_pct"],
        error_median_pct=band["median_pct"], error_p90_pct=band["p90_pct"],
        prior_error_median_pct=result.prior_band["median_pct"], n_runs=band["n"] or len(result.table),
        folds=folds, accepted=band["median_pct"] is not None, detail={**result.summary(), **(extra or {})})
    fit.full_clean()
    fit.save()
    return fit


def engine_records_fit(*, device: Device, records: list[dict[str, Any]], run: CalibrationRun | None = None,
                       runtime: Runtime | None = None) -> CalibrationFit:
    """Fit the device from reference-engine records (a run's, or imported from a GPU host)."""
    if len(records) < cal.MIN_RUNS:
        raise CalibrationError(f"runs: at least {cal.MIN_RUNS} measured configurations are needed, got {len(records)}")
    _check_device(device, (r["config"]["dtype"] for r in records))
    priors = load_priors()
    runtime = runtime or Runtime.objects.get(slug=cal.ENGINE_RUNTIME)
    terms = cal.engine_terms(records, device_row(device), priors)
    prior = cal.prior_for(priors, runtime.slug, device.kind, device.vendor, issue_rate=device.issue_rate)
    result = cal.calibrate(terms, prior)
    return fit_store(device=device, runtime=runtime, result=result, run=run, extra={"source": "engine"})


def calibration_fit_engine(*, run: CalibrationRun) -> CalibrationFit:
    records = [m.record for m in run.measured.order_by("pk")]
    return engine_records_fit(device=run.device, records=records, run=run, runtime=run.runtime)


def measured_frames(runs: Iterable[MeasuredRun]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(models, quantizations, devices, runs) aligned row by row, for `calibrate.measured_terms`."""
    runs = list(runs)
    models = selectors.models_frame(slugs=sorted({r.model.slug for r in runs})).set_index("slug", drop=False)
    quants = selectors.quantizations_frame(slugs=sorted({r.quantization.slug for r in runs})).set_index("slug", drop=False)
    devices = selectors.devices_frame(slugs=sorted({r.device.slug for r in runs})).set_index("slug", drop=False)
    rows = []
    for r in runs:
        work = r.record.get("workload", {})
        chunk = work.get("prefill_chunk")
        rows.append({"label": f"{r.pk}:{r.test}", "metric": work.get("metric", r.metric), "batch": float(r.batch),
                     "numerator": float(work.get("numerator", r.batch if r.metric == "decode" else 1.0)),
                     "measured_tok_s": r.tokens_per_s, "runtime": r.record.get("runtime", r.runtime.slug),
                     "n_devices": float(r.n_devices), "parallel": "auto",
                     "prefill_chunk": np.nan if chunk is None else float(chunk),
                     "decode_context": float(work.get("decode_context", 0.0)),
                     "prompt_len": float(work.get("prompt_len", 1.0)),
                     "prefill_depth": float(work.get("prefill_depth", 0.0)), "model_family": r.model.family,
                     "device_slug": r.device.slug, "runtime_slug": r.runtime.slug})
    frame = pd.DataFrame(rows)
    return (models.loc[[r.model.slug for r in runs]], quants.loc[[r.quantization.slug for r in runs]],
            devices.loc[[r.device.slug for r in runs]], frame)


def imported_runs(device: Device | None = None, runtime: Runtime | None = None):
    queryset = (MeasuredRun.objects.exclude(source=MeasuredSource.ENGINE)
                .select_related("model", "quantization", "device", "runtime").order_by("pk"))
    if device is not None:
        queryset = queryset.filter(device=device)
    if runtime is not None:
        queryset = queryset.filter(runtime=runtime)
    return queryset


def usable_terms(runs: list[MeasuredRun], priors: dict) -> tuple[cal.Terms, pd.DataFrame]:
    """Terms of imported runs the roofline can evaluate, and their frame (others dropped)."""
    models, quants, devices, frame = measured_frames(runs)
    terms, _, _ = cal.measured_terms(models, quants, devices, frame, priors)
    ok = np.isfinite(cal.predict(terms, cal.prior_for(priors, "*", "gpu")))
    return terms.subset(ok), frame[ok].reset_index(drop=True)


def calibration_fit_runtime(*, device: Device, runtime: Runtime) -> CalibrationFit:
    """Fit `runtime` on `device` from the imported runs of that pair.

    Runs of an older build era ('llama-cpp@2023', data README) are another software: they are
    stored under their runtime but not fitted with today's builds.
    """
    runs = [r for r in imported_runs(device, runtime) if r.record.get("runtime", runtime.slug) == runtime.slug]
    if len(runs) < cal.MIN_RUNS:
        raise CalibrationError(f"runs: {device.name} has {len(runs)} imported {runtime.slug} runs of current builds; "
                               f"at least {cal.MIN_RUNS} are needed")
    priors = load_priors()
    terms, _ = usable_terms(runs, priors)
    if len(terms) < cal.MIN_RUNS:
        raise CalibrationError(f"runs: only {len(terms)} runs of {device.name} can be evaluated by the roofline "
                               "(a peak or bandwidth is missing from the catalog)")
    prior = cal.prior_for(priors, runtime.slug, device.kind, device.vendor, issue_rate=device.issue_rate)
    result = cal.calibrate(terms, prior)
    return fit_store(device=device, runtime=runtime, result=result, extra={"source": "measured"})
