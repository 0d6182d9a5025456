"""The GPU calibration script runs its CPU fallback end to end: probe, records, fit, all as files."""

from __future__ import annotations

import json

from estimator.engine import gpu_calibrate
from estimator.engine.sweep import configurations, default_sweep


def test_the_cpu_fallback_writes_the_probe_every_record_and_a_fit(tmp_path, capsys):
    status = gpu_calibrate.main(["--out", str(tmp_path), "--budget-s", "120", "--reps", "1"])
    assert status == 0
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    expected = [c["key"] for c in configurations(default_sweep("tiny"))]
    assert [r["key"] for r in records] == expected
    assert all(r["seconds"] > 0 and r["device"]["type"] == "cpu" for r in records)
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert probe["kind"] == "cpu" and probe["memory_bandwidth_gbs"] > 0
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["band"]["n"] == len(expected) and len(fit["runs"]) == len(expected)
    assert "held-out" in capsys.readouterr().out


def test_the_gpu_grid_is_full_size_diffusiongemma_with_256_token_blocks():
    groups = default_sweep("gpu")
    moe = next(g for g in groups if g["shape"] == "dgemma-26b-a4b")
    assert moe["config"] == {"arch": "diffusiongemma-26b-a4b", "dtype": "bf16", "moe_impl": "grouped"}
    kinds = {p["kind"] for p in moe["points"]}
    assert kinds == {"ar_step", "prefill", "diffusion_step", "commit"}
    assert {p["queries"] for p in moe["points"] if p["kind"] == "diffusion_step"} >= {256}
    assert {p["batch"] for p in moe["points"] if p["kind"] == "ar_step"} >= {1, 8, 32, 128}
