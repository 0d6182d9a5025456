"""The run record, determinism, the pass grid, probes, the command line and the device-check script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from estimator.engine import RunConfig, cli, gpu_check, run_engine, time_passes
from estimator.engine.probe import probe_device
from estimator.engine.runner import build_model

REPO = Path(__file__).resolve().parents[3]
FAST = {"warmup": False, "device": "cpu"}


def _uniform(seed: int) -> dict:
    return {"arch": "tiny-dgemma", "mode": "block_uniform", "max_denoising_steps": 4, "prompt_len": 7,
            "gen_len": 32, "seed": seed, **FAST}


def test_runs_are_deterministic_for_a_seed():
    first, again, other = run_engine(_uniform(0)), run_engine(_uniform(0)), run_engine(_uniform(1))
    assert first["output_digest"] == again["output_digest"]
    assert [p["experts_touched"] for p in first["passes"]] == [p["experts_touched"] for p in again["passes"]]
    assert first["steps_per_block"] == again["steps_per_block"]
    assert other["output_digest"] != first["output_digest"]
    threshold = {"arch": "tiny-moe", "mode": "block_mask", "commit_rule": "threshold", "gen_len": 24, **FAST}
    assert run_engine(threshold)["output_digest"] == run_engine({**threshold, "warmup": True})["output_digest"]


def test_the_record_is_plain_json_and_adds_up():
    record = run_engine({"arch": "tiny-moe", "mode": "block_mask", "commit_rule": "schedule", "tokens_per_step": 3,
                         "block_size": 8, "block_alignment": "prompt_end", "prompt_len": 10, "gen_len": 16,
                         "batch": 2, **FAST})
    json.dumps(record, allow_nan=False)  # plain types only: no tensors, no NaN
    assert record["forwards"] == {"total": 9, "prefill": 1, "diffusion_step": 6, "commit": 2}
    assert len(record["passes"]) == 9
    assert record["steps_per_block"] == [3, 3] and record["tokens_generated"] == 16
    assert record["tokens_per_s"] == pytest.approx(2 * 16 / record["wall_s"])
    assert record["tokens_per_forward"] == pytest.approx(16 / 6)
    kinds = record["time_by_kind"]
    assert kinds["diffusion_step"]["count"] == 6 and kinds["diffusion_step"]["mean_queries"] == 8
    assert record["forward_time_s"] == pytest.approx(sum(k["total_s"] for k in kinds.values()))
    memory = record["memory"]
    assert memory["method"] in ("linux_vmhwm_reset", "ru_maxrss_lifetime")
    assert memory["decode_peak_bytes"] >= memory["decode_start_bytes"] > 0
    assert memory["kv_cache_bytes"] == 2 * 26 * 2 * (2 * 2 * 16) * 4  # batch x rows x layers x (K+V) x fp32
    assert record["params"]["built"] == record["params"]["total"]
    assert record["config"]["commit_last_block"] is True and record["config"]["block_size"] == 8
    assert not record["contains_mask_token"]
    rows = {(r["kind"], r["tokens_routed"]): r for r in record["experts"]["by_kind_and_tokens"]}
    assert rows[("diffusion_step", 16)]["touched_max"] <= 8


@pytest.mark.parametrize("mode,arch", [("ar", "tiny-dense"), ("block_mask", "tiny-moe"),
                                       ("block_uniform", "tiny-dgemma"), ("full_nocache", "tiny-llada"),
                                       ("full_prefix_cache", "tiny-llada")])
def test_every_mode_runs_end_to_end(mode, arch):
    record = run_engine({"arch": arch, "mode": mode, "gen_len": 16, "prompt_len": 5, "max_denoising_steps": 3,
                         **FAST})
    assert record["tokens_generated"] >= 16 and not record["contains_mask_token"]
    assert record["tokens_per_s"] > 0 and record["forwards"]["total"] == len(record["passes"])
    if mode == "ar":
        assert record["forwards"] == {"total": 16, "prefill": 1, "ar_step": 15}


def test_a_scaled_diffusiongemma_runs_on_the_cpu():
    record = run_engine({"arch": "diffusiongemma-26b-a4b", "scale_layers": 0.1, "scale_width": 1 / 16,
                         "scale_experts": 1 / 16, "scale_vocab": 1 / 256, "mode": "block_uniform",
                         "commit_rule": "schedule", "tokens_per_step": 64, "prompt_len": 8, "gen_len": 256,
                         "record_passes": False, **FAST})
    arch = record["architecture"]
    assert (arch["n_layers"], arch["n_global_layers"], arch["n_experts"], arch["n_experts_active"]) == (3, 1, 8, 1)
    assert record["steps_per_block"] == [4] and record["forwards"]["diffusion_step"] == 4
    assert "passes" not in record


def test_the_pass_grid_gives_one_row_per_point():
    cfg = {"arch": "tiny-dgemma", **FAST}
    grid = [{"kind": "ar_step", "queries": 1, "context": 20, "batch": 2},
            {"kind": "diffusion_step", "queries": 16, "context": 40},
            {"kind": "commit", "queries": 16, "context": 0},
            {"kind": "prefill", "queries": 32, "context": 8},
            {"kind": "full", "queries": 24},
            {"kind": "prefix_step", "queries": 24, "context": 8}]
    rows = time_passes(cfg, grid, reps=2)
    assert [(r["kind"], r["batch"], r["queries"], r["context"]) for r in rows] == [
        (g["kind"], g.get("batch", 1), g["queries"], g.get("context", 0)) for g in grid]
    assert all(r["seconds_min"] > 0 and len(r["experts_touched"]) == 4 for r in rows)
    assert rows[0]["experts_touched"] == [2 * 1] * 4 or all(2 <= n <= 4 for n in rows[0]["experts_touched"])
    with pytest.raises(ValueError, match="ar_step"):
        time_passes(cfg, [{"kind": "ar_step", "queries": 4}])


@pytest.mark.parametrize("options,field", [({"mode": "beam"}, "mode"), ({"colour": 1}, "colour"),
                                           ({"mode": "block_uniform", "commit_rule": "threshold"}, "commit_rule"),
                                           ({"dtype": "int4"}, "dtype"), ({"gen_len": 0}, "gen_len"),
                                           ({"overrides": {"n_heads": 3}}, "n_kv_heads")])
def test_it_rejects_bad_options_naming_the_field(options, field):
    with pytest.raises(ValueError, match=field):
        run_engine({"arch": "tiny-moe", **FAST, **options})


def test_it_refuses_a_model_built_for_another_architecture():
    model = build_model({"arch": "tiny-moe", "device": "cpu"})
    with pytest.raises(ValueError, match="model"):
        run_engine({"arch": "tiny-dense", **FAST}, model=model)
    assert run_engine({"arch": "tiny-moe", "gen_len": 8, **FAST}, model=model)["tokens_generated"] == 8


def test_the_probe_reports_catalog_device_columns():
    record = probe_device("cpu", quick=True, dtypes=("fp32", "bf16"))
    assert record["kind"] == "cpu" and record["memory_gb"] > 0
    assert record["memory_bandwidth_gbs"] > 0 and record["fp32_tflops"] > 0
    assert "bf16_tflops" in record and "fp16_tflops" not in record
    json.dumps(record, allow_nan=False)


def test_the_command_line_runs_one_configuration(capsys):
    status = cli.main(["--preset", "tiny-moe", "--scale-experts", "0.5", "--set", "block_size=4", "--mode",
                       "block_mask", "--gen-len", "8", "--no-warmup", "--quiet", "--device", "cpu"])
    assert status == 0
    record = json.loads(capsys.readouterr().out)
    assert record["architecture"]["n_experts"] == 4 and record["config"]["block_size"] == 4
    assert cli.main(["--preset", "tiny-moe", "--mode", "block_uniform", "--commit-rule", "threshold",
                     "--quiet", "--device", "cpu"]) == 2


def test_the_command_line_shows_progress_on_stderr(capsys):
    args = ["--preset", "tiny-dense", "--mode", "ar", "--gen-len", "40", "--no-warmup", "--device", "cpu"]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)
    line = cli.ProgressLine(every_s=0.0)
    line({"forwards": 3, "tokens_done": 2, "tokens_total": 10, "elapsed_s": 0.5})
    assert "tokens 2/10" in capsys.readouterr().err


def test_python_dash_m_prints_a_record_and_importing_the_package_does_not_load_torch():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    lazy = subprocess.run([sys.executable, "-c", "import sys, estimator, estimator.engine, estimator.engine.config;"
                           "print('torch' in sys.modules)"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert lazy.stdout.strip() == "False", lazy.stderr
    run = subprocess.run([sys.executable, "-m", "estimator.engine", "--preset", "tiny-dense", "--mode", "ar",
                          "--gen-len", "4", "--no-passes", "--quiet", "--device", "cpu"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["forwards"]["total"] == 4


def test_the_device_check_runs_on_the_gpu_or_falls_back_to_the_cpu(tmp_path):
    import torch

    assert gpu_check.main(["--quick", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    full = json.loads((tmp_path / "gpu_check.json").read_text())
    # The same test passes on a CUDA host (where the check uses the GPU) and on a CPU-only one.
    assert summary["device"]["type"] == ("cuda" if torch.cuda.is_available() else "cpu") and not summary["errors"]
    assert {"diffusion_block256_s16", "ar", "diffusion_block256_step_cap48"} <= set(summary["runs"])
    assert summary["runs"]["diffusion_block256_s16"]["tokens_per_forward"] == 16
    assert summary["pass_grid"] and (tmp_path / "probe.json").exists()
    assert full["plan"]["note"] == "quick (test) plan"


def test_the_device_check_skips_sections_once_the_budget_is_spent(tmp_path):
    assert gpu_check.main(["--quick", "--out", str(tmp_path), "--budget-s", "0"]) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "probe" in summary["errors"] and "runs" not in summary


def test_runconfig_scale_sets_every_factor():
    cfg = RunConfig(arch="gemma-4-26b-a4b").scale(0.25)
    assert (cfg.scale_layers, cfg.scale_width, cfg.scale_experts, cfg.scale_vocab) == (0.25,) * 4
    assert cfg.architecture().n_layers == 8
