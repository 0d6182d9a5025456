"""The prior fit recovers known efficiencies from synthetic runs and never sees held-out devices."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from estimator.core import fit as fit_mod
from estimator.core.workloads import Reduced


def synthetic(rng, n: int, runtime: str, devices: list[str]) -> fit_mod.FitSet:
    """Rows half decode (memory-bound), half prefill (compute-bound), one slot each."""
    prefill = np.arange(n) % 2 == 1
    red = Reduced(
        count=np.ones((1, n)),
        compute=np.where(prefill, rng.uniform(0.02, 0.2, n), rng.uniform(1e-4, 5e-4, n))[None],
        expert=np.zeros((1, n)), expert_tokens=np.zeros((1, n)),
        attention=np.where(prefill, rng.uniform(0.001, 0.02, n), 0.0)[None], scores=np.zeros((1, n)),
        dequant=np.zeros((1, n)),
        memory=rng.uniform(2e9, 4e10, n)[None], bandwidth=rng.choice([3e11, 1e12, 2e12], n)[None],
        host=np.zeros((1, n)), comm=np.zeros((1, n)), small=(~prefill)[None],
        flops=np.zeros((1, n)), traffic=np.zeros((1, n)),
    )
    return fit_mod.FitSet(
        metric=np.where(prefill, "prefill", "decode").astype(object), runtime=np.full(n, runtime, dtype=object),
        kind=np.full(n, "gpu", dtype=object), device_class=np.full(n, "gpu:acme", dtype=object),
        device=np.array([devices[i % len(devices)] for i in range(n)], dtype=object),
        n_layers=rng.choice([16.0, 32.0, 80.0], n), dequant_class=np.full(n, "none", dtype=object),
        numerator=np.where(prefill, 512.0, 1.0), measured=np.ones(n), reduced=red,
        issue_rate=np.full(n, np.nan),
    )


TRUE = {"eff_m": 0.8, "eff_c": 0.5, "eff_attn": 0.1, "t_fixed_s": 2e-4, "t_layer_s": 5e-5, "cap_bytes_per_cycle": 1e4}


def with_truth(fs: fit_mod.FitSet, rng, noise: float = 0.0) -> fit_mod.FitSet:
    params = {p: np.full(len(fs), v) for p, v in TRUE.items()}
    tables = fit_mod.ClassTables(np.zeros(len(fs)), np.ones(len(fs)), 0.0)
    fs.measured = fit_mod.predict(fs, params, tables) * np.exp(noise * rng.standard_normal(len(fs)))
    return fs


def test_it_recovers_known_efficiencies(rng):
    fs = with_truth(synthetic(rng, 200, "llama-cpp", ["a", "b", "c"]), rng, noise=0.02)
    fitted = fit_mod.fit_groups(fs)
    group = {(g["runtime"], g["kind"]): g for g in fitted["groups"]}[("llama-cpp", "gpu:acme")]
    for name in ("eff_m", "eff_c", "eff_attn"):
        assert group[name] == pytest.approx(TRUE[name], rel=0.08), name
    assert group["t_layer_s"] == pytest.approx(TRUE["t_layer_s"], rel=0.3)
    pred = fit_mod.predict_with(fitted, fs)
    assert np.median(np.abs(pred / fs.measured - 1)) < 0.03


def test_it_keeps_a_group_with_few_rows_near_its_parent(rng):
    big = with_truth(synthetic(rng, 200, "llama-cpp", ["a", "b"]), rng)
    small = synthetic(rng, 4, "vllm", ["c"])
    small = with_truth(small, rng)
    small.measured = small.measured * 0.5            # a runtime twice as slow, seen on 4 rows only
    both = fit_mod.FitSet(**{f.name: _cat(getattr(big, f.name), getattr(small, f.name)) for f in fields(big)})
    fitted = fit_mod.fit_groups(both)
    table = {(g["runtime"], g["kind"]): g for g in fitted["groups"]}
    assert ("vllm", "*") in table
    # It moves towards the data, but the prior keeps it from swallowing all of the 2x.
    assert table[("vllm", "*")]["eff_m"] < table[("llama-cpp", "*")]["eff_m"]


def _cat(a, b):
    if a is None:
        return None
    if isinstance(a, Reduced):
        return Reduced(**{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)], axis=1) for f in fields(a)})
    return np.concatenate([a, b])


def test_leave_one_device_out_never_fits_on_the_device_it_predicts(rng, monkeypatch):
    fs = with_truth(synthetic(rng, 60, "llama-cpp", ["a", "b", "c"]), rng)
    seen: list[set] = []

    def spy(subset):
        seen.append(set(subset.device))
        return fit_mod.fit_groups(subset)

    predicted = fit_mod.leave_one_device_out(fs, fitter=spy)
    assert sorted(map(sorted, seen)) == [["a", "b"], ["a", "c"], ["b", "c"]]
    assert np.isfinite(predicted).all()


def test_it_reports_error_bands_per_group(rng):
    fs = with_truth(synthetic(rng, 60, "llama-cpp", ["a", "b", "c"]), rng)
    bands = fit_mod.error_bands(fs, fs.measured * 1.1)
    assert bands[("*", "*")]["decode"] == pytest.approx(10.0)
    assert bands[("llama-cpp", "gpu:acme")]["prefill"] == pytest.approx(10.0)
    assert bands[("llama-cpp", "*")]["diffusion"] is None


def test_a_device_kind_inherits_its_runtimes_fixed_costs(rng):
    """Per-pass overhead is the runtime's software; a kind's rows fit only hardware efficiencies.

    Otherwise a kind seen on a few slow devices explains them with a per-layer cost that then caps
    every faster device of that kind (llama.cpp on Apple: 15 ms per token from three devices).
    """
    fs = with_truth(synthetic(rng, 200, "llama-cpp", ["a", "b", "c"]), rng, noise=0.02)
    table = {(g["runtime"], g["kind"]): g for g in fit_mod.fit_groups(fs)["groups"]}
    runtime, kind = table[("llama-cpp", "*")], table[("llama-cpp", "gpu")]
    for name in fit_mod.OVERHEAD_PARAMETERS:
        assert kind[name] == runtime[name]
        assert table[("llama-cpp", "gpu:acme")][name] == runtime[name]


def test_it_caps_a_left_out_device_by_its_own_issue_rate(rng):
    """The ceiling is fitted in bytes per compute-unit cycle, so a device never seen is capped by
    its own units x clock: an A100-like part (108 SMs at 1.41 GHz, 2 TB/s) left out is predicted
    from a 4090-like part whose ceiling does not bind and a P40-like part whose ceiling does."""
    parts = {"a": (1.0e12, 128 * 2.52e9), "b": (3.47e11, 30 * 1.53e9), "c": (2.0e12, 108 * 1.41e9)}
    n = 90
    device = np.array([list(parts)[i % 3] for i in range(n)], dtype=object)
    bandwidth = np.array([parts[d][0] for d in device])
    red = Reduced(
        count=np.ones((1, n)), compute=rng.uniform(1e-5, 5e-5, n)[None], expert=np.zeros((1, n)),
        expert_tokens=np.zeros((1, n)), attention=np.zeros((1, n)), scores=np.zeros((1, n)), dequant=np.zeros((1, n)),
        memory=rng.uniform(2e9, 4e10, n)[None], bandwidth=bandwidth[None], host=np.zeros((1, n)),
        comm=np.zeros((1, n)), small=np.ones((1, n), dtype=bool), flops=np.zeros((1, n)), traffic=np.zeros((1, n)),
    )
    fs = fit_mod.FitSet(
        metric=np.full(n, "decode", dtype=object), runtime=np.full(n, "llama-cpp", dtype=object),
        kind=np.full(n, "gpu", dtype=object), device_class=np.full(n, "gpu:acme", dtype=object), device=device,
        n_layers=np.full(n, 32.0), dequant_class=np.full(n, "none", dtype=object), numerator=np.ones(n),
        measured=np.ones(n), reduced=red, issue_rate=np.array([parts[d][1] for d in device]),
    )
    truth = {**TRUE, "cap_bytes_per_cycle": 6.0}
    fs.measured = fit_mod.predict(fs, {p: np.full(n, v) for p, v in truth.items()},
                                  fit_mod.ClassTables(np.zeros(n), np.ones(n), 0.0))
    held = fs.device == "c"
    predicted = fit_mod.leave_one_device_out(fs)
    assert np.median(np.abs(predicted[held] / fs.measured[held] - 1)) < 0.05
    # Without the ceiling the same device would be predicted at its bandwidth: far too fast.
    uncapped = fit_mod.predict(fs, {p: np.full(n, v) for p, v in {**truth, "cap_bytes_per_cycle": 1e4}.items()},
                               fit_mod.ClassTables(np.zeros(n), np.ones(n), 0.0))
    assert np.median(uncapped[held] / fs.measured[held]) > 1.5
