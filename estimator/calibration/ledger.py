"""The accuracy ledger: how far today's estimates are from every stored measured run.

For every device, and within it every runtime and model family, the imported runs give the
p10 / median / p90 of |estimate / measurement - 1| with the estimator as it stands (priors, and
the newest accepted calibrations). An estimate resting on a (device, runtime) shows that pair's
figures; the API lists them all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from devices.models import Device
from estimator import selectors
from estimator.calibration.fits import imported_runs, usable_terms
from estimator.core import calibrate as cal
from estimator.core.priors import device_class, load_priors, resolve

GROUPINGS = (("device", ["device_slug"]), ("device_runtime", ["device_slug", "runtime_slug"]),
             ("device_family", ["device_slug", "model_family"]))


def _estimator_predictions(terms: cal.Terms, frame: pd.DataFrame, priors: dict) -> np.ndarray:
    """tokens/s the estimator predicts for each run: its own parameter lookup, run by run."""
    devices = {d.slug: d for d in Device.objects.filter(slug__in=set(frame["device_slug"]))}
    slugs = frame["device_slug"]
    classes = np.array([device_class(devices[s].kind, devices[s].vendor) for s in slugs], dtype=object)
    eff = resolve(priors, frame["runtime"].to_numpy(dtype=object), classes, slugs.to_numpy(dtype=object),
                  selectors.calibrations_frame(), issue_rate=[devices[s].issue_rate for s in slugs])
    params = {"eff_m": eff.eff_m, "eff_c": eff.eff_c, "eff_attn": eff.eff_attn, "t_fixed_s": eff.t_fixed_s,
              "t_layer_s": eff.t_layer_s, "bw_cap": eff.bw_cap}
    return cal.predict(terms, params)


def accuracy_ledger(*, device: Device | None = None, device_slugs: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows {grouping, device, runtime, model_family, metric, n, p10_pct, median_pct, p90_pct, bias_pct}."""
    queryset = imported_runs(device)
    if device_slugs is not None:
        queryset = queryset.filter(device__slug__in=device_slugs)
    runs = list(queryset)
    if not runs:
        return []
    priors = load_priors()
    terms, frame = usable_terms(runs, priors)
    if not len(terms):
        return []
    frame["predicted"] = _estimator_predictions(terms, frame, priors)
    frame["measured"] = terms.measured
    out = []
    for grouping, keys in GROUPINGS:
        for values, group in frame.groupby(keys + ["metric"], sort=True):
            named = dict(zip(keys + ["metric"], values))
            band = cal.error_band(group["measured"].to_numpy(), group["predicted"].to_numpy())
            out.append({"grouping": grouping, "device": named["device_slug"], "runtime": named.get("runtime_slug"),
                        "model_family": named.get("model_family"), "metric": named["metric"], **band})
    return out


def estimates_with_accuracy(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each estimate record with `accuracy`: the measured error of its (device, runtime) at its mode, or None.

    Only catalog devices with imported runs cost anything beyond one query.
    """
    from estimator.services.catalog_cache import accuracy_rows  # kept per catalog version

    slugs = sorted({r["device"]["slug"] for r in records if r["device"].get("slug") and not r["device"].get("inline")})
    rows = accuracy_rows(slugs) if slugs else []
    for record in records:
        row = ledger_for(rows, device=record["device"].get("slug"), runtime=record.get("runtime"),
                         metric=record.get("mode") or "decode")
        record["accuracy"] = None if row is None else {
            k: row[k] for k in ("n", "p10_pct", "median_pct", "p90_pct", "bias_pct")}
    return records


def ledger_for(rows: list[dict[str, Any]], *, device: str, runtime: str, metric: str) -> dict[str, Any] | None:
    """The (device, runtime) row an estimate rests on, if its runs were measured."""
    return next((r for r in rows if r["grouping"] == "device_runtime" and r["device"] == device
                 and r["runtime"] == runtime and r["metric"] == metric), None)
