"""Predicted vs measured for every row of the dev files, and leave-one-device-out error.

    accuracy_report(data_dir, models, quants, devices, priors) -> (rows with predictions, summary)

`rows` has every CSV row (excluded ones with the reason), the prediction with the given priors,
and the prediction by priors refitted WITHOUT the row's device (LODO: what the estimator would say
about a device it has never seen). `summary` gives median and mean |error| % by metric (decode,
prefill, diffusion, and diffusion_speedup: the speed-up over the baseline row of the same table
cell, which does not depend on how a source counted tokens) and by runtime, device kind and model
family. The thin `manage.py accuracy_report` prints it and writes the CSVs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from estimator.core import fit as fit_mod
from estimator.core.devdata import dev_fitset
from estimator.core.priors import METRICS

FITTED_KEYS = ("groups", "dequant_ops_per_weight", "gemm_factor", "expert_half_tokens")


def accuracy_report(
    data_dir: Path | str,
    models: pd.DataFrame,
    quants: pd.DataFrame,
    devices: pd.DataFrame,
    priors: dict,
    *,
    lodo: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, summary): every dev row predicted with `priors`, and with priors refitted without
    its device (LODO); the summary gives median / mean |error| % by metric, runtime, device kind,
    model family and overall, with the number of rows excluded and why."""
    fs, rows, positions = dev_fitset(data_dir, models, quants, devices, priors.get("constants"),
                                     keep_stand_in_roofs=True)
    fitted = {k: priors[k] for k in FITTED_KEYS if k in priors}
    rows["predicted_tok_s"] = np.nan
    rows["lodo_predicted_tok_s"] = np.nan
    rows.loc[rows.index[positions], "predicted_tok_s"] = fit_mod.predict_with(fitted, fs)
    if lodo:
        rows.loc[rows.index[positions], "lodo_predicted_tok_s"] = fit_mod.leave_one_device_out(fs)
    rows["device_kind"] = ""
    rows["catalog_device"] = ""
    rows.loc[rows.index[positions], "device_kind"] = fs.kind
    rows.loc[rows.index[positions], "catalog_device"] = fs.device
    family = models["family"] if "family" in models else models["name"]
    rows["model_family"] = np.where(rows["model_index"] >= 0, family.to_numpy()[rows["model_index"].clip(lower=0)], "")
    rows = pd.concat([rows, _speedups(rows)], ignore_index=True)
    rows["error_pct"] = (rows["predicted_tok_s"] / rows["measured_tok_s"] - 1.0) * 100.0
    rows["abs_error_pct"] = rows["error_pct"].abs()
    rows["lodo_abs_error_pct"] = (rows["lodo_predicted_tok_s"] / rows["measured_tok_s"] - 1.0).abs() * 100.0
    return rows, summarize(rows)


def _speedups(rows: pd.DataFrame) -> pd.DataFrame:
    """Diffusion speed-up over the baseline row of the same table cell, measured vs predicted.

    Both rows of a cell count the same tokens, so the ratio does not depend on the numerator
    convention (docs/diffusion.md §2.6) nor much on the unstated prompt length: it checks the cost
    model of caching and parallel decoding itself. Added as metric "diffusion_speedup" rows.
    """
    if "cell" not in rows:
        return rows.iloc[:0]
    dif = rows[(rows["metric"] == "diffusion") & rows["cell"].notna() & (rows["excluded"] == "")]
    base = dif[dif["is_baseline"] == True]  # noqa: E712 - object column
    base = base.drop_duplicates("cell").set_index("cell")
    keep = dif[(dif["is_baseline"] != True) & dif["cell"].isin(base.index)]  # noqa: E712
    if not len(keep):
        return rows.iloc[:0]
    b = base.loc[keep["cell"]]
    extra = keep.copy()
    extra["metric"] = "diffusion_speedup"
    extra["measured_tok_s"] = keep["measured_tok_s"].to_numpy() / b["measured_tok_s"].to_numpy()
    extra["predicted_tok_s"] = keep["predicted_tok_s"].to_numpy() / b["predicted_tok_s"].to_numpy()
    extra["lodo_predicted_tok_s"] = keep["lodo_predicted_tok_s"].to_numpy() / b["lodo_predicted_tok_s"].to_numpy()
    extra["test"] = "speed-up over baseline: " + keep["test"].astype(str)
    return extra


# Exclusions that make a row's scenario impossible to state to the estimator (its model, format or
# device is not in the catalog, the method is not a scheme the model has, a length is unknown) or
# whose device has no bandwidth: such rows do not count against the answered share. Every other
# row — any device with a bandwidth — must be answered.
UNSTATABLE = ("model:", "format:", "device: not in catalog", "device: no memory bandwidth", "method ",
              "generation length", "prompt or answer length", "tokens per forward")


def answerable(rows: pd.DataFrame) -> pd.Series:
    """Rows the estimator owes an answer: stated in catalog terms, on a device with a bandwidth."""
    excluded = rows["excluded"].fillna("").astype(str)
    return ~excluded.apply(lambda text: any(part.strip().startswith(UNSTATABLE) for part in text.split(";") if part))


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Median and mean |error| % (in-sample and LODO) by metric and by each grouping, and the share
    of answerable rows (`answerable`) that got an answer."""
    used = rows[rows["excluded"] == ""]
    owed = rows[answerable(rows)]
    out = []
    groupings = (("overall", None), ("runtime", "runtime"), ("device_kind", "device_kind"), ("model_family", "model_family"))
    for metric in (*METRICS, "diffusion_speedup"):
        part = used[used["metric"] == metric]
        excluded = int(((rows["excluded"] != "") & (rows["metric"] == metric)).sum())
        for grouping, column in groupings:
            groups = [("all", part)] if column is None else list(part.groupby(column, sort=True))
            for value, group in groups:
                due = owed[owed["metric"] == metric] if column is None else None
                out.append({
                    "metric": metric, "grouping": grouping, "group": value, "rows": len(group),
                    "excluded_rows": excluded if column is None else np.nan,
                    "answered_share_pct": (100.0 * (due["excluded"] == "").mean() if due is not None and len(due)
                                           else np.nan),
                    "median_abs_error_pct": group["abs_error_pct"].median(),
                    "mean_abs_error_pct": group["abs_error_pct"].mean(),
                    "lodo_median_abs_error_pct": group["lodo_abs_error_pct"].median(),
                    "lodo_mean_abs_error_pct": group["lodo_abs_error_pct"].mean(),
                })
    return pd.DataFrame(out)
