"""Efficiency priors per (runtime, device kind), and calibrations that replace them.

The roofline needs, per (device, runtime): eff_m (share of peak bandwidth reached), eff_c (share
of peak FLOP/s reached by FP16 weight GEMMs), eff_attn (share reached by attention: softmax,
masking and small head dims make it slower than a GEMM), and the fixed cost of a pass,
`t_fixed = t_fixed_s + n_layers * t_layer_s` (kernel launches and syncs grow with the layer
count; CUDA graphs shrink both), and cap_bytes_per_cycle, the bytes a runtime's matrix-vector
kernels move per compute-unit cycle: times the device's issue rate (units x boost clock) it is a
ceiling on their bytes/s (llama.cpp batch-1 decoding reaches about the same bytes/s on an A100,
108 SMs at 1.41 GHz, as on an RTX 4090, 128 at 2.52 GHz; docs/estimator.md "Issue-rate
ceiling"). Two global tables per weight-format class complete it: the
format's GEMM rate relative to FP16 (`gemm_factor`) and its dequantisation work per weight read
(`dequant_ops_per_weight`). Priors are FITTED by `estimator.core.fit` on the measured runs
and stored as data in `estimator/data/priors.json` (regenerate: `python manage.py fit_priors`).

Lookup falls back from the most specific group to the least: (runtime, "kind:vendor") ->
(runtime, kind) -> (runtime, "*") -> the same for the base runtime -> ("*", "*"). The vendor
level exists because a runtime's backend follows the vendor (llama.cpp: CUDA on NVIDIA, ROCm or
Vulkan on AMD, SYCL on Intel, Metal on Apple) and backends differ as much as chips do. A runtime
"llama-cpp@2023" is a build era of "llama-cpp" (late-2023 builds are slower, data README).

A calibration of a device (another issue) replaces the prior for that (device, runtime): pass a
frame with columns device_slug, runtime, eff_m, eff_c, t_fixed (s per pass), error_pct, and
optionally t_layer_s; its rows win over any prior, and the outputs say `calibrated=True` with
`error_band = error_pct / 100` (the calibration's cross-validated error).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from estimator.core.architecture import map_combinations
from estimator.core.hardware import base_class

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PRIORS_PATH = DATA_DIR / "priors.json"          # fitted (python manage.py fit_priors)
CONSTANTS_PATH = DATA_DIR / "constants.json"    # hand-set, documented constants
PARAMETERS = ("eff_m", "eff_c", "eff_attn", "t_fixed_s", "t_layer_s", "cap_bytes_per_cycle")
WILDCARD = "*"
METRICS = ("decode", "prefill", "diffusion")


def base_runtime(runtime: str) -> str:
    """'llama-cpp@2023' -> 'llama-cpp'."""
    return runtime.split("@", 1)[0]


def device_class(kind: str, vendor: str) -> str:
    """'gpu:nvidia'; just the kind where the vendor adds nothing (Apple) or is unknown."""
    vendor = (vendor or "").strip().split(" ")[0].lower()
    return f"{kind}:{vendor}" if vendor and vendor != kind else kind


def fallback_keys(runtime: str, kind: str) -> list[tuple[str, str]]:
    """Group keys from the most specific to the global one; `kind` may be a 'kind:vendor' class."""
    kinds = [kind, kind.split(":", 1)[0]] if ":" in kind else [kind]
    keys = [(runtime, k) for k in kinds] + [(runtime, WILDCARD)]
    base = base_runtime(runtime)
    if base != runtime:
        keys += [(base, k) for k in kinds] + [(base, WILDCARD)]
    keys.append((WILDCARD, WILDCARD))
    return keys


@lru_cache(maxsize=8)
def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_constants(path: Path | str | None = None) -> dict:
    """The hand-set constants (memory overheads, prefill chunks, link latencies, default runtimes)."""
    return _load(str(path or CONSTANTS_PATH))


def load_priors(path: Path | str | None = None, constants_path: Path | str | None = None) -> dict:
    """The fitted priors with the constants under "constants" (cached: callers must not mutate)."""
    return _merged(str(path or PRIORS_PATH), str(constants_path or CONSTANTS_PATH))


@lru_cache(maxsize=8)
def _merged(path: str, constants_path: str) -> dict:
    return {**_load(path), "constants": _load(constants_path)}


@dataclass
class Efficiencies:
    """Per-scenario efficiencies and where they came from."""

    eff_m: np.ndarray
    eff_c: np.ndarray
    eff_attn: np.ndarray
    cap_bytes_per_cycle: np.ndarray
    bw_cap: np.ndarray       # bytes/s: cap_bytes_per_cycle x issue rate (inf: unknown rate, or calibrated)
    t_fixed_s: np.ndarray
    t_layer_s: np.ndarray
    group: np.ndarray        # "runtime|kind" of the prior used, or "calibration"
    calibrated: np.ndarray   # bool
    error_band: dict[str, np.ndarray]  # metric -> relative error (0.12 = 12%)


def bandwidth_ceiling(cap_bytes_per_cycle, issue_rate) -> np.ndarray:
    """bytes/s a runtime's matrix-vector kernels can move on a device: bytes per unit-cycle x
    unit-cycles/s. A device whose units or clock are not known gets no ceiling (inf), which the
    answer shows (`bw_cap_bytes_s`)."""
    cap = np.asarray(cap_bytes_per_cycle, dtype=np.float64) * np.asarray(issue_rate, dtype=np.float64)
    return np.where(np.isfinite(cap) & (cap > 0), cap, np.inf)


def group_table(priors: dict) -> dict[tuple[str, str], dict]:
    return {(g["runtime"], g["kind"]): g for g in priors["groups"]}


def resolve_group(priors: dict, runtime: str, kind: str) -> dict:
    """The prior group used for one (runtime, kind), with the error bands of the first group
    along the fallback chain that measured one."""
    table = group_table(priors)
    chain = [table[key] for key in fallback_keys(runtime, kind) if key in table]
    group = dict(chain[0])
    errors = {}
    for metric in METRICS:
        errors[metric] = next((g["error_pct"][metric] for g in chain
                               if g.get("error_pct", {}).get(metric) is not None), None)
    group["error_pct"] = errors
    group["resolved_from"] = f"{chain[0]['runtime']}|{chain[0]['kind']}"
    return group


def resolve(
    priors: dict,
    runtime,
    kind,
    device_slug=None,
    calibrations: pd.DataFrame | None = None,
    issue_rate=None,
) -> Efficiencies:
    """Efficiencies for every scenario: calibrated where a calibration exists, else the prior.

    Vectorised through the unique (runtime, kind) pairs (a handful), not through rows. runtime,
    kind (a kind or a 'kind:vendor' class, see `device_class`) and device_slug are arrays of
    strings or `architecture.Coded` columns. issue_rate: unit-cycles/s per scenario (NaN or None:
    unknown), which turns the prior's bytes per cycle into a bytes/s ceiling.
    """
    pairs = map_combinations([runtime, kind], lambda r, k: [f"{a}|{b}" for a, b in zip(r, k)])
    codes, uniques = pd.factorize(pairs)
    resolved = [resolve_group(priors, *key.split("|", 1)) for key in uniques]
    out = {p: np.array([g[p] for g in resolved], dtype=np.float64)[codes] for p in PARAMETERS}
    group = np.array([g["resolved_from"] for g in resolved], dtype=object)[codes]
    error = {
        metric: np.array([np.nan if g["error_pct"][metric] is None else g["error_pct"][metric] / 100.0
                          for g in resolved], dtype=np.float64)[codes]
        for metric in METRICS
    }
    calibrated = np.zeros(len(codes), dtype=bool)
    rate = np.full(len(codes), np.nan) if issue_rate is None else np.asarray(issue_rate, dtype=np.float64)
    bw_cap = bandwidth_ceiling(out["cap_bytes_per_cycle"], rate)
    if calibrations is not None and len(calibrations) and device_slug is not None:
        cal = calibrations.drop_duplicates(["device_slug", "runtime"], keep="last")
        lookup = {(str(d), str(r)): i for i, (d, r) in enumerate(zip(cal["device_slug"], cal["runtime"]))}
        position = map_combinations([device_slug, runtime],
                                    lambda ds, rs: [lookup.get((str(d), str(r)), -1) for d, r in zip(ds, rs)], dtype=np.intp)
        hit = position >= 0
        if hit.any():
            rows = cal.iloc[position[hit]]
            calibrated = hit
            out["eff_m"][hit] = rows["eff_m"].to_numpy(dtype=np.float64)
            out["eff_c"][hit] = rows["eff_c"].to_numpy(dtype=np.float64)
            out["t_fixed_s"][hit] = rows["t_fixed"].to_numpy(dtype=np.float64)
            # A calibration measures the device itself: its efficiencies include any ceiling.
            bw_cap[hit] = np.inf
            if "eff_attn" in rows:
                out["eff_attn"][hit] = rows["eff_attn"].fillna(pd.Series(out["eff_attn"][hit], index=rows.index)).to_numpy(dtype=np.float64)
            layer = rows["t_layer_s"] if "t_layer_s" in rows else pd.Series(0.0, index=rows.index)
            out["t_layer_s"][hit] = layer.fillna(0.0).to_numpy(dtype=np.float64)
            band = rows["error_pct"].to_numpy(dtype=np.float64) / 100.0
            for metric in METRICS:
                error[metric][hit] = band
            group[hit] = "calibration"
    return Efficiencies(eff_m=out["eff_m"], eff_c=out["eff_c"], eff_attn=out["eff_attn"],
                        cap_bytes_per_cycle=out["cap_bytes_per_cycle"], bw_cap=bw_cap,
                        t_fixed_s=out["t_fixed_s"],
                        t_layer_s=out["t_layer_s"], group=group, calibrated=calibrated, error_band=error)


_DEQUANT_PATTERNS = (
    (re.compile(r"^Q\d_\d"), "legacy"),     # Q4_0, Q5_0, Q8_0: one scale per 32 weights
    (re.compile(r"^Q\d_K"), "kquant"),      # K-quants: super-blocks with 6-bit sub-scales
    (re.compile(r"^IQ\d"), "iquant"),       # i-quants: lattice codebooks
)


def _dequant_class_one(key: str) -> str:
    name, family, bits = key.split("|")
    name, family = name.upper(), family.lower()
    if bits and float(bits) >= 16:
        return "none"
    if family == "fp8":
        return "fp8"
    if family in ("nvfp4", "mxfp4") or "FP4" in name:
        return "fp4"
    for pattern, label in _DEQUANT_PATTERNS:
        if pattern.match(name):
            return label
    return "int_group"   # GPTQ/AWQ/bitsandbytes: int4/int8 groups with scales (and zeros)


def dequant_class(name, family, bits: np.ndarray):
    """Which dequantisation cost a weight format pays (keys of priors['dequant_ops_per_weight']).

    name, family: arrays or `Coded`; returns a `Coded` column.
    """
    def label(names, families, bits_):
        return [_dequant_class_one(f"{_s(n)}|{_s(f)}|{'' if b != b else f'{float(b):g}'}")
                for n, f, b in zip(names, families, bits_)]
    return map_combinations([name, family, np.asarray(bits, dtype=np.float64)], label, as_coded=True)


def _s(value) -> str:
    return "" if value is None or value != value else str(value)


def dequant_ops(priors: dict, classes) -> np.ndarray:
    """Dequantisation work, ops per weight read per pass, for each scenario's format class."""
    table = priors["dequant_ops_per_weight"]
    # The work belongs to the weight format, whatever GEMM path it takes ('kquant-int8' -> 'kquant').
    return classes.map(lambda u: [float(table.get(base_class(c), 0.0)) for c in u], dtype=np.float64)


def gemm_factor(priors: dict, classes) -> np.ndarray:
    """GEMM rate of each scenario's format class relative to FP16 (1 where not fitted)."""
    table = priors.get("gemm_factor", {})
    return classes.map(lambda u: [float(table.get(c, 1.0)) for c in u], dtype=np.float64)
