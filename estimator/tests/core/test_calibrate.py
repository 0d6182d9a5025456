"""The calibration fit: the error band's arithmetic, recovery of known parameters, shrinkage, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from estimator.core import calibrate as cal
from estimator.core.priors import load_priors
from estimator.engine.arch import count_params
from estimator.engine.config import RunConfig

DEVICE = {"slug": "test-cpu", "kind": "cpu", "vendor": "AMD", "memory_bandwidth_gbs": 50.0, "fp32_tflops": 1.0}
TRUE = {"eff_m": 0.6, "eff_c": 0.5, "eff_attn": 0.2, "t_fixed_s": 2e-4, "t_layer_s": 3e-5, "t_expert_s": 0.0}


def _records(points: list[tuple[str, int, int, int]], seconds: list[float] | None = None) -> list[dict]:
    """Engine-like records of the tiny dense preset, without running the engine."""
    cfg = RunConfig(arch="tiny-dense", dtype="fp32").resolved()
    arch = cfg.architecture()
    counts = count_params(arch)
    out = []
    for i, (kind, batch, queries, context) in enumerate(points):
        out.append({"key": f"tiny|{kind}|b{batch}|q{queries}|c{context}", "config": cfg.to_dict(),
                    "architecture": arch.to_dict(), "params": {"total": counts["total"], "active": counts["active"]},
                    "point": {"kind": kind, "batch": batch, "queries": queries, "context": context},
                    "kind": kind, "batch": batch, "queries": queries, "experts_touched": [],
                    "seconds": seconds[i] if seconds else 1.0})
    return out


POINTS = [("ar_step", b, 1, c) for b in (1, 4, 16, 64) for c in (0, 256, 1024)] + \
         [("prefill", 1, q, 0) for q in (64, 256, 1024, 4096)] + \
         [("diffusion_step", b, q, 512) for b in (1, 4) for q in (16, 64, 256)]


def _synthetic(params: dict, points=POINTS, noise: float = 0.0) -> cal.Terms:
    priors = load_priors()
    terms = cal.engine_terms(_records(points), DEVICE, priors)
    seconds = 1.0 / cal.predict(terms, params)
    if noise:
        seconds = seconds * np.exp(np.random.default_rng(1).normal(0.0, noise, len(seconds)))
    return cal.engine_terms(_records(points, list(seconds)), DEVICE, priors)


def test_the_error_band_is_the_spread_of_absolute_relative_errors():
    band = cal.error_band(np.array([100.0] * 5), np.array([90.0, 105.0, 110.0, 150.0, 100.0]))
    # |errors| = 10, 5, 10, 50, 0 %: sorted 0, 5, 10, 10, 50.
    # p10: position 0.4 between 0 and 5 -> 2; median 10; p90: position 3.6 -> 10 + 0.6 x 40 = 34.
    # Signed errors -10, 5, 10, 50, 0: median 5.
    assert band == {"n": 5, "p10_pct": pytest.approx(2.0), "median_pct": pytest.approx(10.0),
                     "p90_pct": pytest.approx(34.0), "bias_pct": pytest.approx(5.0)}


def test_it_predicts_a_memory_bound_decode_pass_from_bytes_and_bandwidth():
    terms = _synthetic(TRUE, points=[("ar_step", 1, 1, 0)])
    # One batch-1 step reads every weight once (tiny-dense, fp32: 4 bytes each) plus the fp32
    # logits written and read (512 x 4 x 2 bytes); at 0.6 x 50 GB/s, plus 2e-4 s + 2 layers x 3e-5 s.
    cfg = RunConfig(arch="tiny-dense").resolved()
    counts = count_params(cfg.architecture())
    embedding = 512 * 64   # the input embedding is a gather of one row, not read in full
    weight_bytes = (counts["total"] - embedding) * 4.0
    kv_bytes = 2 * 2 * 2 * 16 * 4.0     # 2 layers x (K,V) x 2 KV heads x head dim 16 x 4 bytes, 1 token
    logits = 512 * 4.0 * 2
    seconds = (weight_bytes + kv_bytes + logits) / (0.6 * 50e9) + 2e-4 + 2 * 3e-5
    assert 1.0 / cal.predict(terms, TRUE)[0] == pytest.approx(seconds, rel=0.02)


def test_it_recovers_the_parameters_that_made_the_timings():
    terms = _synthetic(TRUE)
    prior = cal.prior_for(load_priors(), "reference", "cpu", "amd")
    result = cal.calibrate(terms, prior)
    assert result.band["median_pct"] < 1.0
    assert result.params["eff_m"] == pytest.approx(0.6, rel=0.05)
    assert result.params["eff_c"] == pytest.approx(0.5, rel=0.1)
    assert result.prior_band["median_pct"] > result.band["median_pct"]


def test_a_fit_on_three_runs_stays_near_the_prior_and_many_runs_move_it():
    prior = cal.prior_for(load_priors(), "reference", "cpu", "amd")
    few = cal.fit(_synthetic({**TRUE, "eff_m": 0.2}, points=POINTS[:3]), prior)
    many = cal.fit(_synthetic({**TRUE, "eff_m": 0.2}), prior)
    assert abs(np.log(many["eff_m"] / 0.2)) < abs(np.log(few["eff_m"] / 0.2))
    assert many["eff_m"] == pytest.approx(0.2, rel=0.1)


def test_fitted_efficiencies_stay_within_physical_bounds_whatever_the_data():
    # Timings 100x faster than the peaks allow: eff_m would have to exceed 1.
    terms = _synthetic({**TRUE, "eff_m": 1.0, "eff_c": 1.0, "t_fixed_s": 1e-6, "t_layer_s": 1e-8}, noise=0.01)
    terms.measured = terms.measured * 100.0
    params = cal.fit(terms, cal.prior_for(load_priors(), "reference", "cpu", "amd"))
    for name in ("eff_m", "eff_c", "eff_attn"):
        assert cal.BOUNDS[name][0] <= params[name] <= cal.BOUNDS[name][1]


def test_it_refuses_to_fit_fewer_than_three_runs():
    with pytest.raises(ValueError, match="runs: at least 3"):
        cal.fit(_synthetic(TRUE, points=POINTS[:2]), cal.prior_for(load_priors(), "reference", "cpu"))


def test_cross_validation_predicts_each_run_from_a_fit_without_it():
    terms = _synthetic(TRUE, noise=0.05)
    held = cal.cross_validate(terms, cal.prior_for(load_priors(), "reference", "cpu", "amd"), folds=5)
    assert np.isfinite(held).all() and len(held) == len(terms)
