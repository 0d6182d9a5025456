"""The accuracy report on the dev files (the repository's snapshot in fixtures/sources).

The in-sample checks run in about a second; the leave-one-device-out check refits the priors
once per device (~15 s) and is marked slow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import catalog_sources as sources
from estimator.core import accuracy, priors_build
from estimator.core.priors import load_priors
from hwfit.testing import require_files

DATA = Path(__file__).resolve().parents[3] / "fixtures" / "sources"
require_files(DATA / "measured_runs_dev.csv", DATA / "diffusion_runs_dev.csv")


@pytest.fixture(scope="module")
def catalog():
    return sources.load_models(DATA), sources.load_quants(DATA), sources.load_devices(DATA)


@pytest.fixture(scope="module")
def report(catalog):
    return accuracy.accuracy_report(DATA, *catalog, load_priors(), lodo=False)


def overall(summary: pd.DataFrame, metric: str, column: str) -> float:
    row = summary[(summary["metric"] == metric) & (summary["grouping"] == "overall")]
    return float(row[column].iloc[0])


def test_it_predicts_decode_within_10_percent_and_prefill_within_20(report):
    _, summary = report
    assert overall(summary, "decode", "median_abs_error_pct") <= 10.0
    assert overall(summary, "prefill", "median_abs_error_pct") <= 20.0


def test_it_accounts_for_every_dev_row(report):
    rows, summary = report
    measured = pd.read_csv(DATA / "measured_runs_dev.csv")
    diffusion = pd.read_csv(DATA / "diffusion_runs_dev.csv")
    base = rows[rows["metric"] != "diffusion_speedup"]
    assert len(base) == len(measured) + len(diffusion)
    predicted = base["excluded"] == ""
    assert np.isfinite(base.loc[predicted, "predicted_tok_s"]).all()
    assert base.loc[~predicted, "predicted_tok_s"].isna().all()
    # Exclusions say why, and the summary counts them.
    assert (base.loc[~predicted, "excluded"].str.len() > 0).all()
    assert overall(summary, "decode", "excluded_rows") == ((base["metric"] == "decode") & ~predicted).sum()


def test_the_committed_priors_are_what_the_fit_gives_today(catalog):
    fresh = priors_build.build_priors_document(DATA, *catalog, lodo=False)
    committed = {(g["runtime"], g["kind"]): g for g in load_priors()["groups"]}
    assert set(committed) == {(g["runtime"], g["kind"]) for g in fresh["groups"]}
    for g in fresh["groups"]:
        for name in ("eff_m", "eff_c", "eff_attn", "t_layer_s", "cap_bytes_per_cycle"):
            assert committed[(g["runtime"], g["kind"])][name] == pytest.approx(g[name], rel=1e-3), (g["runtime"], name)


@pytest.mark.slow
def test_it_predicts_unseen_devices_within_the_issue_targets(catalog):
    # Leave-one-device-out medians on the dev files: decode <= 8%, prefill <= 15%, diffusion <= 20%.
    _, summary = accuracy.accuracy_report(DATA, *catalog, load_priors(), lodo=True)
    assert overall(summary, "decode", "lodo_median_abs_error_pct") <= 8.0
    assert overall(summary, "prefill", "lodo_median_abs_error_pct") <= 15.0
    assert overall(summary, "diffusion", "lodo_median_abs_error_pct") <= 20.0


@pytest.mark.parametrize("metric", ["decode", "prefill", "diffusion"])
def test_it_answers_every_row_whose_device_has_a_bandwidth(report, metric):
    rows, summary = report
    # Apple GPU-core variants (no memory size, no FLOP/s) included: decode needs only bandwidth.
    assert overall(summary, metric, "answered_share_pct") == 100.0
    owed = rows[accuracy.answerable(rows) & (rows["metric"] == metric)]
    assert np.isfinite(owed["predicted_tok_s"]).all()


def test_rows_answered_with_a_stand_in_peak_are_predicted_but_never_fitted(catalog):
    models, quants, devices = catalog
    # The RTX 4090 without its tensor peaks: its prefill rows can only be answered at the FP32 rate.
    devices = devices.copy()
    gpu = devices["slug"] == "nvidia-geforce-rtx-4090"
    for column in ("fp16_tflops", "bf16_tflops", "int8_tops", "fp8_tflops", "fp4_tflops"):
        devices.loc[gpu, column] = np.nan
    fs, rows, positions = accuracy.dev_fitset(DATA, models, quants, devices, keep_stand_in_roofs=True)
    stand_in = rows["not_fitted"].fillna("") != ""
    assert stand_in.sum() > 0
    assert (rows.loc[stand_in, "metric"] == "prefill").all()
    assert (rows.loc[stand_in, "device"].str.contains("4090")).all()
    assert (~fs.in_fit).sum() == stand_in.sum()
    assert len(fs.fitted_rows()) == fs.in_fit.sum()
