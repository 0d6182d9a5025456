"""Build the priors document (estimator/data/priors.json) from the dev files.

    build_priors_document(data_dir, models, quants, devices) -> dict
    write_priors(document, path)

The document holds the fitted groups (`fit.fit_groups`), the global format-class tables, the
error band of each group (median |error| % when the group's devices are left out of the fit and
predicted: what a device the estimator has never seen should expect), and the provenance of the
fit (input files and their SHA-256, row counts, the model's formula). `manage.py fit_priors`
regenerates it; nothing in it is typed by hand.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from estimator.core import fit as fit_mod
from estimator.core.devdata import dev_fitset
from estimator.core.priors import METRICS, PRIORS_PATH, load_constants

DEV_FILES = ("measured_runs_dev.csv", "diffusion_runs_dev.csv")
MODEL = ("t_pass = max((dense GEMMs + dequant) / (peak * eff_c * gemm_factor) + experts / (peak * eff_c * "
         "gemm_factor * m/(m + expert_half_tokens)) + attention / (peak * eff_attn) + unfused score bytes / "
         "(eff_m * bandwidth), bytes / softmin(eff_m * bandwidth, cap_bytes_per_cycle * compute units * boost "
         "clock [matrix-vector passes only])) + t_fixed_s + n_layers * t_layer_s")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def build_priors_document(
    data_dir: Path | str, models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame,
    *, lodo: bool = True,
) -> dict:
    """Fit every group on the dev files and attach leave-one-device-out error bands."""
    data_dir = Path(data_dir)
    fs, rows, _ = dev_fitset(data_dir, models, quants, devices, load_constants())
    fitted = fit_mod.fit_groups(fs)
    bands = fit_mod.error_bands(fs, fit_mod.leave_one_device_out(fs)) if lodo else {}
    groups = []
    for group in fitted["groups"]:
        key = (group["runtime"], group["kind"])
        entry = {k: (_round(v) if isinstance(v, float) else v) for k, v in group.items()}
        entry["error_pct"] = {m: (None if bands.get(key, {}).get(m) is None else round(bands[key][m], 1))
                              for m in METRICS}
        groups.append(entry)
    counts = {metric: int((fs.metric == metric).sum()) for metric in METRICS}
    return {
        "schema": 2,
        "generated_by": "python manage.py fit_priors (estimator.core.priors_build)",
        "model": MODEL,
        "fit": {
            "files": {name: _sha256(data_dir / name) for name in DEV_FILES if (data_dir / name).exists()},
            "rows_fitted": counts,
            "rows_excluded": int((rows["excluded"] != "").sum()),
            "loss": f"{fit_mod.LOSS} at {fit_mod.LOSS_SCALE} (log time)",
            "sigma_data": fit_mod.SIGMA_DATA, "sigma_prior": fit_mod.SIGMA_PRIOR,
            "error_pct": "median |error| % of the group's rows when their device is left out of the fit",
        },
        "groups": groups,
        "dequant_ops_per_weight": {k: _round(v) for k, v in fitted["dequant_ops_per_weight"].items()},
        "gemm_factor": {k: _round(v) for k, v in fitted["gemm_factor"].items()},
        "expert_half_tokens": _round(fitted["expert_half_tokens"]),
    }


def write_priors(document: dict, path: Path | str | None = None) -> Path:
    """Write the document as stable, diff-friendly JSON."""
    path = Path(path or PRIORS_PATH)
    path.write_text(json.dumps(document, indent=1, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")
    return path


def check_finite(document: dict) -> None:
    """Every fitted number is finite (a NaN in priors.json would poison every estimate)."""
    for group in document["groups"]:
        for key, value in group.items():
            if isinstance(value, float) and not np.isfinite(value):
                raise ValueError(f"non-finite {key} in group {group['runtime']}|{group['kind']}")
