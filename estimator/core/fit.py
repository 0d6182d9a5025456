"""Fit the efficiency priors on measured runs: hierarchical, penalised least squares on log time.

The model is the estimator's own (`pipeline.prepare` + `workloads.reduced_time`), so a fitted
prior means exactly what the estimator does with it. Parameters per group:

    eff_m      share of peak memory bandwidth reached
    eff_c      share of peak FLOP/s reached by FP16 weight GEMMs (prefill; decode rarely reaches it)
    eff_attn   share of peak FLOP/s reached by attention (softmax, masks, small heads: below eff_c)
    t_fixed_s  fixed seconds per forward pass
    t_layer_s  fixed seconds per layer per pass (kernel launches, syncs: grows with depth)
    cap_bytes_per_cycle  bytes a matrix-vector kernel moves per compute-unit cycle: x the device's
               issue rate (units x boost clock) it caps the bytes/s of batch-1 passes

plus two global tables per weight-format class (legacy / K-quant / int-group / fp4 ...), shared by
every device and runtime: the class's GEMM rate relative to FP16 (`gemm_factor`: K-quant GEMMs
run at ~0.77 of F16 on every GPU and Apple chip of the dev data) and its dequantisation ops per
weight read (`dequant_ops_per_weight`, what makes K-quant decoding compute-bound on weak GPUs).

Groups form a tree: global ("*", "*") -> runtime (r, "*") -> (r, device kind) -> (r, kind:vendor);
a build era such as "llama-cpp@2023" hangs under its base runtime. Each group is fitted on its own rows with a penalty
pulling its log-parameters towards its parent's (a Gaussian prior of width SIGMA_PRIOR against
data noise SIGMA_DATA): a group with few rows stays near its parent, one with many rows moves
where its data say. Residuals are robust (Cauchy loss at 15%), so a few anomalous rows (e.g. an
F16 prompt-processing figure far below Q4 on the same card, data README) cannot drag a group.

No per-row tuning: rows only ever inform their group's four numbers (and the global dequant
table). `leave_one_device_out` refits everything without each device in turn and predicts it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

import numpy as np
from scipy.optimize import least_squares

from estimator.core.hardware import INT8_GEMM_CLASSES, INT8_PATH_SUFFIX, base_class
from estimator.core.priors import METRICS, PARAMETERS, WILDCARD, bandwidth_ceiling, base_runtime, fallback_keys
from estimator.core.workloads import Reduced, reduced_time

SIGMA_DATA = 0.10     # typical scatter of repeated measurements, in log time (10%)
SIGMA_PRIOR = 0.5     # how far a child group may sit from its parent before it costs like a 50% miss
SIGMA_ANCHOR = 2.0    # weak anchor of the global group (keeps unidentified parameters finite)
MIN_ROWS = 3          # fewer rows than this: no group of its own, the fallback applies
MIN_GEMM_ROWS = 5     # compute-bound rows a format class needs before its GEMM factor is fitted
# Cauchy loss: a row 2x off pulls little more than one 30% off, so a handful of rows the roofline
# cannot describe (a catalog peak that is not what the kernels use, an anomalous published
# figure) cannot drag a whole group; every row still counts, and the report shows all of them.
LOSS = "cauchy"
LOSS_SCALE = 0.15

# Bytes per compute-unit cycle where a ceiling starts (about where llama.cpp's decoding sits: an
# A100's ~0.9 TB/s over 108 SMs x 1.41 GHz is ~6); the bound's top, 1e4, is no ceiling at all.
CAP_ANCHOR = 10.0
# Starting point and anchors of the global fit, and the physical bounds of every parameter.
OVERHEAD_PARAMETERS = ("t_fixed_s", "t_layer_s")
ANCHOR = {"eff_m": 0.7, "eff_c": 0.4, "eff_attn": 0.1, "t_fixed_s": 5e-4, "t_layer_s": 2e-5,
          "cap_bytes_per_cycle": CAP_ANCHOR}
BOUNDS = {"eff_m": (0.05, 1.0), "eff_c": (0.01, 1.0), "eff_attn": (0.002, 1.0), "t_fixed_s": (1e-6, 0.2),
          "t_layer_s": (1e-8, 0.02), "cap_bytes_per_cycle": (0.5, 1e4)}
# The issue-rate ceiling is fitted per group in bytes per compute-unit cycle, so a device left out
# of the fit is capped by its own units and clock, not by the fastest fitted device (a runtime-wide
# bytes/s ceiling did that: an A100 left out of llama.cpp's rows was capped at the next device's
# bandwidth). Devices without a known issue rate get no ceiling (docs/estimator.md).
FIXED_GLOBAL: dict[str, float] = {}
FIXED_ALWAYS: dict[str, float] = {}
# Dequantising a weight is a few ALU ops (unpack 4-6 bits, apply the block and sub-block scales):
# bounded at 3 per weight read. A looser bound let the rows of slow-decoding Apple GPUs push the
# shared K-quant figure to 7.6 ops, which made every GPU with a modest FP32 rate (A100: 19.5
# TFLOP/s) compute-bound when it was left out of the fit.
DEQUANT_ANCHOR = 1.0
DEQUANT_BOUNDS = (0.05, 3.0)
FIXED_DEQUANT = {"none": 0.0}
GEMM_ANCHOR = 1.0
GEMM_BOUNDS = (0.2, 1.5)
FIXED_GEMM = {"none": 1.0}
BASE_CLASSES = ("legacy", "kquant", "iquant", "int_group", "fp8", "fp4")
# The same formats on llama.cpp's int8 GEMM path (hardware.INT8_GEMM_CLASSES): tables of their own.
CLASSES = BASE_CLASSES + tuple(f"{c}{INT8_PATH_SUFFIX}" for c in INT8_GEMM_CLASSES)
HALF_ANCHOR = 16.0      # tokens per expert at which an expert GEMM runs at half a large GEMM's rate
HALF_BOUNDS = (0.5, 2000.0)


@dataclass
class FitSet:
    """Measured rows reduced to efficiency-free pass terms (one workload per row)."""

    metric: np.ndarray       # decode / prefill / diffusion
    runtime: np.ndarray
    kind: np.ndarray
    device_class: np.ndarray  # 'gpu:nvidia' (priors.device_class)
    device: np.ndarray       # catalog device slug (the unit of leave-one-device-out)
    n_layers: np.ndarray
    dequant_class: np.ndarray
    numerator: np.ndarray    # tokens the measured tokens/s counts
    measured: np.ndarray     # tokens/s
    reduced: Reduced         # (slots, rows)
    issue_rate: np.ndarray   # compute units x boost clock of the row's device (NaN: unknown)
    # Rows the fit may use (None: all). The others are only predicted: rows the estimator answers
    # with a stand-in peak (a GPU whose compute dtype has no published peak) count in the accuracy
    # report as answers, but must not teach the priors a wrong roof.
    in_fit: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.measured)

    def subset(self, mask: np.ndarray) -> "FitSet":
        values = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                values[item.name] = None
            elif isinstance(value, Reduced):
                values[item.name] = Reduced(**{f.name: getattr(value, f.name)[:, mask] for f in fields(value)})
            else:
                values[item.name] = value[mask]
        return FitSet(**values)

    def fitted_rows(self) -> "FitSet":
        return self if self.in_fit is None or self.in_fit.all() else self.subset(self.in_fit)


@dataclass
class ClassTables:
    """Per-row values of the global tables: format classes, and the expert small-GEMM constant."""

    dequant: np.ndarray
    gemm: np.ndarray
    expert_half_tokens: float = 0.0


def class_tables(fitted: dict, classes: np.ndarray) -> ClassTables:
    dq = {**fitted.get("dequant_ops_per_weight", {}), **FIXED_DEQUANT}
    gm = {**fitted.get("gemm_factor", {}), **FIXED_GEMM}
    return ClassTables(np.array([dq.get(base_class(c), DEQUANT_ANCHOR) for c in classes]),
                       np.array([gm.get(c, GEMM_ANCHOR) for c in classes]),
                       float(fitted.get("expert_half_tokens", 0.0)))


def predict(fs: FitSet, params: dict[str, np.ndarray], tables: ClassTables) -> np.ndarray:
    """Predicted tokens/s of every row for per-row parameter arrays."""
    t_fixed = params["t_fixed_s"] + params["t_layer_s"] * fs.n_layers
    bw_cap = bandwidth_ceiling(params["cap_bytes_per_cycle"], fs.issue_rate)
    seconds = reduced_time(fs.reduced, params["eff_m"], params["eff_c"], params["eff_attn"], t_fixed,
                           tables.dequant, tables.gemm, tables.expert_half_tokens, bw_cap).total
    return fs.numerator / seconds


def _fit_group(fs: FitSet, parent: dict[str, float], sigma_prior: float, tables: ClassTables | None,
               free_classes: list[str] = (), fixed: dict[str, float] | None = None,
               fit_half: bool = False, gemm_classes: list[str] | None = None) -> tuple[dict[str, float], dict]:
    """One group's parameters (and, for the global group, the class tables) by robust least squares."""
    fixed = {**FIXED_ALWAYS, **(fixed or {})}
    names = [p for p in PARAMETERS if p not in fixed]
    free_classes = list(free_classes)
    # A class's GEMM factor is only seen on compute-bound rows; without enough of them it stays 1
    # here and takes the documented fallback in fit_groups. Dequantisation work belongs to the
    # weight format (base class), the GEMM factor to the format on its GEMM path (path class).
    gemm_classes = free_classes if gemm_classes is None else list(gemm_classes)
    k = len(names)
    lower = [np.log(BOUNDS[p][0]) for p in names]
    upper = [np.log(BOUNDS[p][1]) for p in names]
    start = [np.log(np.clip(parent[p], *BOUNDS[p])) for p in names]
    center = list(start)
    if "cap_bytes_per_cycle" in names:
        # Start a ceiling where the data can see it (an inactive one has no gradient).
        start[names.index("cap_bytes_per_cycle")] = np.log(min(parent["cap_bytes_per_cycle"], CAP_ANCHOR))
    for _ in free_classes:      # dequant ops, then GEMM factor, per class
        lower.append(np.log(DEQUANT_BOUNDS[0])); upper.append(np.log(DEQUANT_BOUNDS[1]))
        start.append(np.log(DEQUANT_ANCHOR)); center.append(np.log(DEQUANT_ANCHOR))
    for _ in gemm_classes:
        lower.append(np.log(GEMM_BOUNDS[0])); upper.append(np.log(GEMM_BOUNDS[1]))
        start.append(np.log(GEMM_ANCHOR)); center.append(np.log(GEMM_ANCHOR))
    if fit_half:   # the expert small-GEMM constant, fitted with the global group only
        lower.append(np.log(HALF_BOUNDS[0])); upper.append(np.log(HALF_BOUNDS[1]))
        start.append(np.log(HALF_ANCHOR)); center.append(np.log(HALF_ANCHOR))
    lower, upper = np.array(lower), np.array(upper)
    start = np.clip(np.array(start), lower + 1e-9, upper - 1e-9)
    center = np.array(center)
    weights = np.full(len(start), SIGMA_DATA / sigma_prior)
    weights[k:] = SIGMA_DATA / 1.0   # class tables: weak pull to "no dequant cost, FP16 rate"
    log_measured = np.log(fs.measured)
    row_base = np.array([base_class(c) for c in fs.dequant_class], dtype=object)
    row_class = {c: row_base == c for c in free_classes}
    row_path = {c: fs.dequant_class == c for c in gemm_classes}

    def tables_of(x: np.ndarray) -> ClassTables:
        if tables is not None:
            return tables
        dq = np.zeros(len(fs))
        gm = np.ones(len(fs))
        for i, c in enumerate(free_classes):
            dq[row_class[c]] = np.exp(x[k + i])
        for i, c in enumerate(gemm_classes):
            gm[row_path[c]] = np.exp(x[k + len(free_classes) + i])
        return ClassTables(dq, gm, float(np.exp(x[-1])) if fit_half else 0.0)

    def residuals(x: np.ndarray) -> np.ndarray:
        params = {p: np.full(len(fs), np.exp(x[i])) for i, p in enumerate(names)}
        params.update({p: np.full(len(fs), v) for p, v in fixed.items()})
        data = np.log(predict(fs, params, tables_of(x))) - log_measured
        data = np.where(np.isfinite(data), data, 3.0)
        return np.concatenate([data, weights * (x - center)])

    result = least_squares(residuals, start, bounds=(lower, upper), loss=LOSS, f_scale=LOSS_SCALE,
                           max_nfev=600)
    x = result.x
    fitted = {**{p: float(np.exp(x[i])) for i, p in enumerate(names)}, **fixed}
    extra = {
        "dequant_ops_per_weight": {c: float(np.exp(x[k + i])) for i, c in enumerate(free_classes)},
        "gemm_factor": {c: float(np.exp(x[k + len(free_classes) + i])) for i, c in enumerate(gemm_classes)},
        "expert_half_tokens": float(np.exp(x[-1])) if fit_half else None,
    }
    return fitted, extra


def fit_groups(fs: FitSet) -> dict:
    """Fit the tree of groups on `fs`: {"groups": [...], "dequant_ops_per_weight", "gemm_factor"}."""
    fs = fs.fitted_rows()
    bases = np.array([base_class(c) for c in fs.dequant_class], dtype=object)
    present = [c for c in BASE_CLASSES if (bases == c).sum() >= MIN_ROWS]
    compute_bound = fs.metric != "decode"
    gemm_present = [c for c in CLASSES if ((fs.dequant_class == c) & compute_bound).sum() >= MIN_GEMM_ROWS]
    moe_rows = int((fs.reduced.expert_tokens > 0).any(axis=0).sum())
    global_params, extra = _fit_group(fs, ANCHOR, SIGMA_ANCHOR, None, present, fixed=FIXED_GLOBAL,
                                      gemm_classes=gemm_present,
                                      fit_half=moe_rows >= MIN_ROWS)
    if extra["expert_half_tokens"] is None:
        extra["expert_half_tokens"] = HALF_ANCHOR
    # Classes without data: no dequant cost and the FP16 rate would be a guess; the documented
    # fallback is the K-quant value (the most common GGUF family) when fitted, else the anchors.
    # An int8-path class falls back to the int8-path K-quant value (its factor is relative to the
    # int8 peak, not to FP16).
    def fallback(table: dict, c: str, anchor: float) -> float:
        kquant = "kquant" + (INT8_PATH_SUFFIX if c.endswith(INT8_PATH_SUFFIX) else "")
        return table.get(c, table.get(kquant, anchor))

    dq_table = {c: fallback(extra["dequant_ops_per_weight"], c, DEQUANT_ANCHOR) for c in BASE_CLASSES}
    gm_table = {c: fallback(extra["gemm_factor"], c, GEMM_ANCHOR) for c in CLASSES}
    fitted_doc = {"dequant_ops_per_weight": {**dq_table, **FIXED_DEQUANT}, "gemm_factor": {**gm_table, **FIXED_GEMM},
                  "expert_half_tokens": extra["expert_half_tokens"]}
    tables = class_tables(fitted_doc, fs.dequant_class)
    groups: dict[tuple[str, str], dict] = {(WILDCARD, WILDCARD): {**global_params, "n_rows": int(len(fs))}}

    def fit_rows(rows: np.ndarray, parent: dict, fixed: dict | None = None) -> dict:
        sub = fs.subset(rows)
        params, _ = _fit_group(sub, parent, SIGMA_PRIOR, ClassTables(tables.dequant[rows], tables.gemm[rows],
                                                                      tables.expert_half_tokens), fixed=fixed)
        return {**params, "n_rows": int(rows.sum())}

    # Base runtimes first, so that an era ("llama-cpp@2023") hangs under its base when the base
    # has rows of its own; an era whose base has none hangs under the global group (its old
    # build must not become today's prior).
    runtimes = sorted(set(fs.runtime), key=lambda r: (r != base_runtime(r), r))
    for runtime in runtimes:
        base = base_runtime(runtime)
        rows = fs.runtime == runtime
        if rows.sum() >= MIN_ROWS:
            parent = groups.get((base, WILDCARD), groups[(WILDCARD, WILDCARD)]) if base != runtime else groups[(WILDCARD, WILDCARD)]
            groups[(runtime, WILDCARD)] = fit_rows(rows, parent)
        for column in (fs.kind, fs.device_class):
            for kind in sorted(set(column[rows])):
                kind_rows = rows & (column == kind)
                if kind_rows.sum() < MIN_ROWS or (runtime, kind) in groups:
                    continue
                parent_key = next(key for key in fallback_keys(runtime, kind)[1:] if key in groups)
                # The fixed costs per pass are the runtime's software (launches, syncs, sampling):
                # a device kind inherits them, and its rows fit only what the hardware sets. Else a
                # kind seen on a few slow devices explains them with a per-layer cost that then
                # caps every faster device of that kind.
                parent = groups[parent_key]
                groups[(runtime, kind)] = fit_rows(kind_rows, parent,
                                                   fixed={p: parent[p] for p in OVERHEAD_PARAMETERS})
    return {"groups": [{"runtime": r, "kind": k, **v} for (r, k), v in groups.items()], **fitted_doc}


def row_parameters(fitted: dict, fs: FitSet) -> tuple[dict[str, np.ndarray], ClassTables]:
    """Per-row parameter arrays from a fitted document, through the same fallback as the estimator."""
    table = {(g["runtime"], g["kind"]): g for g in fitted["groups"]}
    params = {p: np.empty(len(fs)) for p in PARAMETERS}
    for runtime, kind in set(zip(fs.runtime, fs.device_class)):
        rows = (fs.runtime == runtime) & (fs.device_class == kind)
        group = next(table[k] for k in fallback_keys(runtime, kind) if k in table)
        for p in PARAMETERS:
            params[p][rows] = group[p]
    return params, class_tables(fitted, fs.dequant_class)


def predict_with(fitted: dict, fs: FitSet) -> np.ndarray:
    params, tables = row_parameters(fitted, fs)
    return predict(fs, params, tables)


def leave_one_device_out(fs: FitSet, fitter: Callable[[FitSet], dict] = fit_groups) -> np.ndarray:
    """Predicted tokens/s of every row by priors refitted WITHOUT that row's device."""
    out = np.full(len(fs), np.nan)
    for device in sorted(set(fs.device)):
        held = fs.device == device
        fitted = fitter(fs.subset(~held))
        out[held] = predict_with(fitted, fs.subset(held))
    return out


def error_bands(fs: FitSet, lodo_predicted: np.ndarray, min_rows: int = 5) -> dict[tuple[str, str], dict[str, float | None]]:
    """Median |LODO error| in % per group and metric: the error band each prior carries.

    A group's rows are the rows it was fitted on ((r, "*"): runtime r exactly; ("*", "*"): all);
    fewer than `min_rows` rows: None, and the estimator takes the band of the next group up.
    """
    err = np.abs(lodo_predicted / fs.measured - 1.0) * 100.0
    ok = np.isfinite(err)
    keys = {(WILDCARD, WILDCARD)} | {(r, WILDCARD) for r in fs.runtime} | set(zip(fs.runtime, fs.kind)) \
        | set(zip(fs.runtime, fs.device_class))
    bands: dict[tuple[str, str], dict[str, float | None]] = {}
    for runtime, kind in keys:
        rows = ok.copy()
        if runtime != WILDCARD:
            rows &= fs.runtime == runtime
        if kind != WILDCARD:
            rows &= (fs.device_class == kind) if ":" in kind else (fs.kind == kind)
        bands[(runtime, kind)] = {
            metric: float(np.median(err[rows & (fs.metric == metric)])) if (rows & (fs.metric == metric)).sum() >= min_rows else None
            for metric in METRICS
        }
    return bands
