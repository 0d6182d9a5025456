"""Calibration: fit one (device, runtime)'s efficiencies and fixed costs to its measured runs.

    terms = engine_terms(records, device_row, priors)      reference-engine pass timings
    terms = runtime_terms(fitset, priors)                  runs of a runtime (llama-bench, vLLM, ...)
    result = calibrate(terms, prior)                       fit + k-fold cross-validated error band

The model is the estimator's own (`workloads.reduced_time`): per pass
`max(compute / eff, bytes / (eff_m * bandwidth)) + t_fixed_s + n_layers * t_layer_s`, so a
fitted value means exactly what the estimator does with it. The reference engine dispatches
its routed experts in a Python loop (one kernel group per touched expert and layer); its
calibration adds that cost, `t_expert_s` per touched expert-layer, which belongs to the engine
and is not passed on to the estimator (docs/calibration.md).

Least squares on log time (scipy, robust soft-L1 loss), parameters in log space, bounded to
physical ranges (`fit.BOUNDS`), with a Gaussian pull of every log-parameter towards the prior
(width SIGMA_PRIOR against data noise SIGMA_DATA): with a handful of runs the fit stays near
the prior, with many it goes where the runs say. `cross_validate` refits k times without a
fold and predicts it: the p10 / median / p90 of |error| on held-out runs is the error band an
estimate carries. Pure numpy/scipy, no Django.
"""

from __future__ import annotations

import math

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from estimator.core import fit as fit_mod
from estimator.core.architecture import Coded, coded, model_arrays
from estimator.core.hardware import peak_flops
from estimator.core.passes import pass_cost
from estimator.core.priors import METRICS, bandwidth_ceiling, device_class, resolve_group
from estimator.core.units import BILLION, GB, TERA
from estimator.core.workloads import PARALLEL_NONE, Execution, Reduced, Slot, reduce, reduced_time

ENGINE_RUNTIME = "reference"     # the catalog runtime of the bundled engine
SIGMA_DATA = 0.10
SIGMA_PRIOR = 0.5
LOSS_SCALE = 0.10
FOLDS = 5
MIN_RUNS = 3                     # fewer runs than this: no fit (the prior stands)
BOUNDS = {**fit_mod.BOUNDS, "t_expert_s": (1e-8, 1e-2)}
EXPERT_PRIOR = 2e-5              # ~ a few kernel launches per touched expert-layer
PASS_METRIC = {"ar_step": "decode", "prefill": "prefill", "diffusion_step": "diffusion", "commit": "diffusion",
               "full": "diffusion", "prefix_step": "diffusion"}
DTYPE_BITS = {"fp32": 32.0, "fp16": 16.0, "bf16": 16.0, "fp64": 64.0}


@dataclass
class Terms:
    """Measured runs reduced to efficiency-free terms: one workload (Reduced column) per run."""

    reduced: Reduced          # (slots, runs)
    n_layers: np.ndarray
    numerator: np.ndarray     # tokens the measured rate counts (engine passes: 1)
    measured: np.ndarray      # tokens/s (engine passes: 1 / seconds)
    dequant: np.ndarray       # dequantisation ops per weight read (priors table, per run)
    gemm: np.ndarray          # GEMM rate of the format relative to FP16 (priors table)
    expert_half_tokens: float
    dispatch: np.ndarray      # touched expert-layers dispatched one by one (engine only, else 0)
    metric: np.ndarray        # decode / prefill / diffusion
    label: np.ndarray         # a name per run (engine: configuration key)

    def __len__(self) -> int:
        return len(self.measured)

    def subset(self, mask: np.ndarray) -> "Terms":
        values: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Reduced):
                value = Reduced(**{f.name: getattr(value, f.name)[:, mask] for f in fields(value)})
            elif isinstance(value, np.ndarray):
                value = value[mask]
            values[item.name] = value
        return Terms(**values)


def _model_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A catalog-style model row for an engine record: its resolved architecture, counted params."""
    arch = dict(record["architecture"])
    arch["total_params_b"] = record["params"]["total"] / BILLION
    arch["active_params_b"] = record["params"]["active"] / BILLION
    # The engine's dense MLP beside the experts is its own field; the catalog folds it into
    # the dense parameters, which the counted totals above carry.
    return arch


def engine_terms(records: Sequence[Mapping[str, Any]], device: Mapping[str, Any], priors: dict) -> Terms:
    """Terms of reference-engine pass timings (`estimator.engine.sweep` records) on `device`.

    device: a catalog device row (memory_bandwidth_gbs, <dtype>_tflops, kind, vendor). Weights,
    KV cache and compute run in the record's dtype (fp32 on a CPU, bf16 on a GPU).
    """
    if not records:
        raise ValueError("records: no engine runs to fit")
    frame = pd.DataFrame([_model_row(r) for r in records])
    m = model_arrays(frame)
    dtype = np.array([r["config"]["dtype"] for r in records], dtype=object)
    bytes_per = np.array([DTYPE_BITS[d] / 8.0 for d in dtype])
    point = pd.DataFrame([r["point"] for r in records])
    kind = point["kind"].to_numpy(dtype=object)
    q = point["queries"].to_numpy(dtype=np.float64)
    b = point["batch"].to_numpy(dtype=np.float64)
    ctx = point["context"].to_numpy(dtype=np.float64)
    causal = np.isin(kind, ("ar_step", "prefill"))
    logits = np.select([kind == "prefill", kind == "commit"], [1.0, 0.0], q)
    cost = pass_cost(m, bytes_per, bytes_per, tokens=q, batch=b, cached=np.where(kind == "full", 0.0, ctx),
                     causal=causal, logits_rows=logits,
                     self_conditioning=m.self_conditioning & (kind == "diffusion_step"))
    dev = pd.DataFrame([dict(device)] * len(records))
    peak, _ = peak_flops(dev, Coded(*pd.factorize(dtype)))
    n = len(records)
    ones = np.ones(n)
    vector = pd.to_numeric(dev.get("fp32_tflops"), errors="coerce").to_numpy(dtype=np.float64) * TERA
    ex = Execution(
        peak=peak, vector_peak=vector, bandwidth=float(device["memory_bandwidth_gbs"]) * GB * ones,
        n_layers=m.n_layers, hidden=m.hidden, n_devices=ones, parallel=np.full(n, PARALLEL_NONE),
        link_bandwidth=ones, link_latency=0 * ones, device_fraction=ones, host_bandwidth=ones, host_peak=ones,
        host_eff_m=ones, host_eff_c=ones)
    reduced = reduce([Slot(ones, cost)], ex)
    seconds = np.array([r["seconds"] for r in records], dtype=np.float64)
    return Terms(reduced=reduced, n_layers=m.n_layers, numerator=ones, measured=1.0 / seconds,
                 dequant=np.zeros(n), gemm=ones, expert_half_tokens=float(priors.get("expert_half_tokens", 0.0)),
                 dispatch=np.array([_dispatched(r) for r in records]),
                 metric=np.array([PASS_METRIC[k] for k in kind], dtype=object),
                 label=np.array([r.get("key", "") for r in records], dtype=object))


def _dispatched(record: Mapping[str, Any]) -> float:
    """Expert-layers the engine dispatched one by one in this pass (grouped layers count once)."""
    touched = record.get("experts_touched") or []
    n_experts = record["architecture"].get("n_experts") or 0
    if record["config"].get("moe_impl") == "grouped":
        return float(sum(1 if t == n_experts else t for t in touched))
    return float(sum(touched))


def runtime_terms(fs: fit_mod.FitSet, priors: dict) -> Terms:
    """Terms of a runtime's measured runs (a `fit.FitSet` built by `devdata.build_fitset`)."""
    tables = fit_mod.class_tables(priors, fs.dequant_class)
    return Terms(reduced=fs.reduced, n_layers=fs.n_layers, numerator=fs.numerator, measured=fs.measured,
                 dequant=tables.dequant, gemm=tables.gemm, expert_half_tokens=tables.expert_half_tokens,
                 dispatch=np.zeros(len(fs)), metric=np.asarray(fs.metric, dtype=object),
                 label=np.asarray(fs.device, dtype=object))


MEASURED_WORKLOAD = ("runtime", "n_devices", "parallel", "prefill_chunk", "decode_context", "prompt_len",
                     "prefill_depth")


def measured_terms(models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame, runs: pd.DataFrame,
                   priors: dict) -> tuple[Terms, np.ndarray, np.ndarray]:
    """Terms of imported runtime runs; row i of the three catalog frames is what run i ran.

    runs: metric (decode | prefill), batch, numerator (tokens the rate counts: the batch for
    decode, the prompt for prefill), measured_tok_s and `MEASURED_WORKLOAD`'s columns.
    Returns (terms, device_class per run, device slug per run). Runs the roofline cannot
    evaluate (no bandwidth, no peak) come back with NaN terms: callers drop them.
    """
    from estimator.core import pipeline

    frame = pipeline.paired_scenarios(
        models.reset_index(drop=True), quants.reset_index(drop=True), devices.reset_index(drop=True),
        batch=runs["batch"].to_numpy(dtype=np.float64),
        context=np.maximum(runs["decode_context"].to_numpy(dtype=np.float64),
                           runs["prompt_len"].to_numpy(dtype=np.float64)
                           + runs["prefill_depth"].to_numpy(dtype=np.float64)) + 1,
        **{c: runs[c].to_numpy() for c in MEASURED_WORKLOAD})
    prep = pipeline.prepare(frame, priors, configuration="given")
    metric = runs["metric"].to_numpy(dtype=object)
    parts = {"decode": prep.reduced["decode"], "prefill": prep.reduced["prefill"]}
    width = max(r.count.shape[0] for r in parts.values())
    n = len(metric)
    out = {f.name: np.zeros((width, n), dtype=bool if f.name == "small" else np.float64) for f in fields(Reduced)}
    out["bandwidth"][:] = 1.0      # padding slots have count 0; keep 0/0 out of them
    for name, red in parts.items():
        rows = metric == name
        for f in fields(Reduced):
            value = getattr(red, f.name)[:, rows]
            out[f.name][: value.shape[0], rows] = value
    tables = fit_mod.class_tables(priors, prep.dequant_class.values)
    terms = Terms(reduced=Reduced(**out), n_layers=prep.m.n_layers,
                  numerator=runs["numerator"].to_numpy(dtype=np.float64),
                  measured=runs["measured_tok_s"].to_numpy(dtype=np.float64), dequant=tables.dequant,
                  gemm=tables.gemm, expert_half_tokens=tables.expert_half_tokens, dispatch=np.zeros(n),
                  metric=metric, label=runs.get("label", pd.Series([""] * n)).to_numpy(dtype=object))
    return terms, prep.device_class.values, prep.device_slug.values


def prior_for(priors: dict, runtime: str, kind: str, vendor: str = "", *,
              issue_rate: float | None = None) -> dict[str, float]:
    """The prior group the estimator would use for (runtime, device), the fit's starting point.

    issue_rate (unit-cycles/s of the device, None: unknown) turns the prior's bytes per cycle into
    the bytes/s ceiling (`bw_cap`) the prior predicts with.
    """
    group = resolve_group(priors, runtime, device_class(kind, vendor))
    params = {p: float(group[p]) for p in ("eff_m", "eff_c", "eff_attn", "t_fixed_s", "t_layer_s")}
    # bw_cap is the prior's only: a fit measures the device itself, its efficiencies include any ceiling.
    # None is stored for a device with no known issue rate (JSON, and so PostgreSQL, has no Infinity).
    cap = float(bandwidth_ceiling(group["cap_bytes_per_cycle"], np.nan if issue_rate is None else issue_rate))
    if math.isfinite(cap):
        params["bw_cap"] = cap
    return params


def predict(terms: Terms, params: Mapping[str, float]) -> np.ndarray:
    """Predicted tokens/s of every run for one set of fitted parameters."""
    t_fixed = params["t_fixed_s"] + params["t_layer_s"] * terms.n_layers
    seconds = reduced_time(terms.reduced, params["eff_m"], params["eff_c"], params["eff_attn"], t_fixed,
                           terms.dequant, terms.gemm, terms.expert_half_tokens, params.get("bw_cap", np.inf)).total
    seconds = seconds + params.get("t_expert_s", 0.0) * terms.dispatch
    return terms.numerator / seconds


def fit(terms: Terms, prior: Mapping[str, float]) -> dict[str, float]:
    """Bounded, prior-shrunk least squares on log time; returns the fitted parameters.

    `t_expert_s` is fitted only when some run dispatched experts one by one (engine runs).
    """
    if len(terms) < MIN_RUNS:
        raise ValueError(f"runs: at least {MIN_RUNS} are needed to fit, got {len(terms)}")
    names = ["eff_m", "eff_c", "eff_attn", "t_fixed_s", "t_layer_s"]
    center_values = {k: v for k, v in prior.items() if k != "bw_cap"}
    if terms.dispatch.any():
        names.append("t_expert_s")
        center_values.setdefault("t_expert_s", EXPERT_PRIOR)
    lower = np.log([BOUNDS[p][0] for p in names])
    upper = np.log([BOUNDS[p][1] for p in names])
    center = np.clip(np.log([center_values[p] for p in names]), lower + 1e-9, upper - 1e-9)
    weight = SIGMA_DATA / SIGMA_PRIOR
    log_measured = np.log(terms.measured)

    def residuals(x: np.ndarray) -> np.ndarray:
        params = dict(zip(names, np.exp(x)))
        data = np.log(predict(terms, params)) - log_measured
        data = np.where(np.isfinite(data), data, 3.0)
        return np.concatenate([data, weight * (x - center)])

    result = least_squares(residuals, center, bounds=(lower, upper), loss="soft_l1", f_scale=LOSS_SCALE,
                           max_nfev=800)
    out = {p: float(v) for p, v in zip(names, np.exp(result.x))}
    out.setdefault("t_expert_s", 0.0)
    return out


def cross_validate(terms: Terms, prior: Mapping[str, float], folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Predicted tokens/s of every run by a fit WITHOUT its fold (k-fold, shuffled with `seed`)."""
    n = len(terms)
    k = max(2, min(folds, n))
    order = np.random.default_rng(seed).permutation(n)
    fold = np.empty(n, dtype=np.intp)
    fold[order] = np.arange(n) % k
    out = np.full(n, np.nan)
    for i in range(k):
        held = fold == i
        if (~held).sum() < MIN_RUNS:
            continue
        out[held] = predict(terms.subset(held), fit(terms.subset(~held), prior))
    return out


def error_band(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float | int | None]:
    """p10 / median / p90 of |predicted / measured - 1| in %, and the signed median (bias)."""
    err = (np.asarray(predicted, dtype=np.float64) / np.asarray(measured, dtype=np.float64) - 1.0) * 100.0
    err = err[np.isfinite(err)]
    if not len(err):
        return {"n": 0, "p10_pct": None, "median_pct": None, "p90_pct": None, "bias_pct": None}
    absolute = np.abs(err)
    return {"n": int(len(err)), "p10_pct": float(np.percentile(absolute, 10)),
            "median_pct": float(np.median(absolute)), "p90_pct": float(np.percentile(absolute, 90)),
            "bias_pct": float(np.median(err))}


@dataclass
class Calibration:
    """A fit, its cross-validated band (overall and per metric) and the per-run table."""

    params: dict[str, float]
    prior: dict[str, float]
    band: dict[str, Any]
    band_by_metric: dict[str, dict[str, Any]]
    prior_band: dict[str, Any]      # the prior's error on the same runs (before calibration)
    table: pd.DataFrame             # label, metric, measured, fitted, held-out and prior predictions

    def summary(self) -> dict[str, Any]:
        """JSON-able: parameters, bands and the per-run table as records."""
        table = self.table.replace([np.inf, -np.inf], np.nan).astype(object)
        return {"params": self.params, "prior": self.prior, "band": self.band, "band_by_metric": self.band_by_metric,
                "prior_band": self.prior_band,
                "runs": table.where(pd.notna(table), None).to_dict(orient="records")}


def calibrate(terms: Terms, prior: Mapping[str, float], folds: int = FOLDS, seed: int = 0) -> Calibration:
    """Fit on every run, cross-validate, and tabulate measured vs fitted vs held-out vs prior."""
    params = fit(terms, prior)
    fitted = predict(terms, params)
    held_out = cross_validate(terms, prior, folds, seed)
    before = predict(terms, {**prior, "t_expert_s": 0.0})
    table = pd.DataFrame({"label": terms.label, "metric": terms.metric, "measured_tok_s": terms.measured,
                          "fitted_tok_s": fitted, "cv_tok_s": held_out, "prior_tok_s": before})
    by_metric = {m: error_band(terms.measured[terms.metric == m], held_out[terms.metric == m])
                 for m in METRICS if (terms.metric == m).any()}
    return Calibration(params=params, prior=dict(prior), band=error_band(terms.measured, held_out),
                       band_by_metric=by_metric, prior_band=error_band(terms.measured, before), table=table)


def calibration_row(device_slug: str, runtime: str, params: Mapping[str, float], error_pct: float) -> dict[str, Any]:
    """One row of the frame `priors.resolve` takes (what an estimate of this pair then uses)."""
    return {"device_slug": device_slug, "runtime": runtime, "eff_m": params["eff_m"], "eff_c": params["eff_c"],
            "eff_attn": params["eff_attn"], "t_fixed": params["t_fixed_s"], "t_layer_s": params["t_layer_s"],
            "error_pct": error_pct}


def coded_column(values: Sequence[str]) -> Coded:
    """Helper for callers building Coded columns from plain strings."""
    return coded(pd.DataFrame({"v": list(values)}), "v")
