"""The device check: probes plus engine runs on an attached NVIDIA GPU, written as JSON to an output folder.

    python -m estimator.engine.gpu_check --out "$OUT" [--budget-s 420] [--quick]

On CUDA: probe the device, build the full-size DiffusionGemma-26B-A4B shape in bf16 (when it
fits; otherwise as many layers as fit, and the record says so), then on that one model:
block diffusion over 256-token canvases with a fixed schedule of 16 tokens/step (the
published ~15-20 tokens per forward), the same model decoding autoregressively, the
step-capped random-weight behaviour (48 steps), batch 4 of both, the batched-expert variant,
and a grid of single-pass timings (T, context, batch). Without CUDA it runs the same plan on a
scaled-down model on the CPU, so the script itself can be tested anywhere.

Every section is guarded (an error is recorded, the next section runs) and the results file
is rewritten after each section, so a timeout still leaves everything done so far. Sections
are skipped once the time budget is spent. Files in --out: gpu_check.json (everything),
summary.json (the headline figures), probe.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Any

PRESET = "diffusiongemma-26b-a4b"


def _write(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1, default=str)
    os.replace(tmp, path)


def _say(text: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _plan(cuda: bool, quick: bool, free_bytes: int | None) -> dict[str, Any]:
    """Model configuration and run sizes for this machine."""
    from .arch import count_params
    from .config import RunConfig

    if cuda and not quick:
        base = RunConfig(arch=PRESET, dtype="bf16", device="cuda")
        weights = count_params(base.architecture())["total"] * 2
        # Room for KV, logits (256 x 262144 fp32 per row and step, a few copies), and the grid.
        headroom = 12 << 30
        note = "full size"
        if free_bytes is not None and weights + headroom > free_bytes:
            keep = max(1 / 30, (free_bytes - headroom) / weights)
            base = base.__class__(**{**base.to_dict(), "scale_layers": keep})
            note = f"layers scaled x{keep:.3f} to fit {free_bytes / 1e9:.0f} GB free"
        return {"base": base, "note": note, "prompt": 128, "diff_gen": 512, "ar_gen": 256, "cap_gen": 256,
                "batch_gen": 256, "grid_queries": [16, 64, 256], "grid_contexts": [0, 1024, 4096],
                "grid_batches": [1, 4], "prefill": [512, 2048], "reps": 3}
    # CPU (or --quick): the same plan on a small copy that keeps DiffusionGemma's ratios.
    scale = {"scale_layers": 0.2, "scale_width": 0.125, "scale_experts": 0.125, "scale_vocab": 1 / 64}
    base = RunConfig(arch=PRESET, dtype="fp32", device="cuda" if cuda else "cpu", **scale)
    if quick:
        base = base.__class__(**{**base.to_dict(), "block_size": 32})
        return {"base": base, "note": "quick (test) plan", "prompt": 16, "diff_gen": 64, "ar_gen": 16,
                "cap_gen": 32, "batch_gen": 32, "grid_queries": [8], "grid_contexts": [0, 32],
                "grid_batches": [1], "prefill": [32], "reps": 1}
    return {"base": base, "note": "CPU fallback: DiffusionGemma shape scaled (layers 0.2, width/experts 0.125, "
                                  "vocab 1/64)", "prompt": 64, "diff_gen": 512, "ar_gen": 256, "cap_gen": 256,
            "batch_gen": 256, "grid_queries": [16, 256], "grid_contexts": [0, 1024], "grid_batches": [1, 4],
            "prefill": [512], "reps": 2}


def _headline(rec: dict[str, Any]) -> dict[str, Any]:
    """The figures a reader wants from one run record."""
    cfg = rec["config"]
    experts = rec.get("experts") or {}
    return {
        "mode": cfg["mode"], "commit_rule": cfg["commit_rule"], "tokens_per_step": cfg["tokens_per_step"],
        "batch": rec["batch"], "moe_impl": cfg["moe_impl"], "tokens_generated": rec["tokens_generated"],
        "tokens_per_s": rec["tokens_per_s"], "decode_tokens_per_s": rec["decode_tokens_per_s"],
        "forwards": rec["forwards"], "steps_per_block": rec["steps_per_block"],
        "tokens_per_forward": rec["tokens_per_forward"],
        "mean_s_by_kind": {k: v["mean_s"] for k, v in rec["time_by_kind"].items()},
        "host_overhead_s": rec["host_overhead_s"], "wall_s": rec["wall_s"],
        "experts_touched_mean": {f"{r['kind']}@T={r['tokens_routed']}": round(r["touched_mean"], 2)
                                 for r in experts.get("by_kind_and_tokens", [])},
        "decode_peak_bytes": rec["memory"]["decode_peak_bytes"], "memory_method": rec["memory"]["method"],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns 0 when every section ran, 1 when one failed or was skipped."""
    p = argparse.ArgumentParser(prog="python -m estimator.engine.gpu_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out")
    p.add_argument("--budget-s", type=float, default=420.0, help="stop starting sections after this many seconds")
    p.add_argument("--quick", action="store_true", help="tiny sizes (tests the script itself in seconds)")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    deadline = t_start + args.budget_s
    os.makedirs(args.out, exist_ok=True)
    results: dict[str, Any] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "sections": {}, "errors": {}}
    summary: dict[str, Any] = {}
    out_all, out_summary = os.path.join(args.out, "gpu_check.json"), os.path.join(args.out, "summary.json")

    import torch

    from . import runner
    from .probe import device_info, pick_device, probe_device

    cuda = torch.cuda.is_available()
    device = pick_device("cuda" if cuda else "cpu")
    results["device"] = device_info(device)
    summary["device"] = {k: results["device"].get(k) for k in ("name", "type", "memory_gb", "torch", "cuda")}
    _say(f"device: {results['device'].get('name')} ({device.type})")

    def section(name: str, fn, min_left_s: float = 0.0) -> Any:
        left = deadline - time.perf_counter()
        if left < min_left_s:
            results["errors"][name] = f"skipped: {left:.0f} s of budget left, needs {min_left_s:.0f}"
            _say(f"skip {name}")
            return None
        _say(f"start {name}")
        t0 = time.perf_counter()
        try:
            value = fn()
            results["sections"][name] = {"seconds": time.perf_counter() - t0, "result": value}
            return value
        except Exception as exc:  # keep going: one failing section must not lose the others
            results["errors"][name] = "".join(traceback.format_exception(exc))[-4000:]
            _say(f"FAILED {name}: {exc}")
            if cuda:
                torch.cuda.empty_cache()
            return None
        finally:
            results["elapsed_s"] = time.perf_counter() - t_start
            _write(out_all, results)
            _write(out_summary, summary)

    probe = section("probe", lambda: probe_device(device, quick=args.quick))
    if probe:
        _write(os.path.join(args.out, "probe.json"), probe)
        summary["probe"] = {k: probe.get(k) for k in ("name", "memory_gb", "memory_bandwidth_gbs", "fp32_tflops",
                                                       "fp16_tflops", "bf16_tflops")}
        if "matmul_tf32" in probe["measurements"]:
            summary["probe"]["tf32_tflops"] = probe["measurements"]["matmul_tf32"]["best_tflops"]

    if cuda:
        torch.cuda.empty_cache()  # the probe's buffers sit in the caching allocator until released
    free = torch.cuda.mem_get_info(device)[0] if cuda else None
    plan = _plan(cuda, args.quick, free)
    base = plan["base"]
    results["plan"] = {"note": plan["note"], "base_config": base.to_dict(),
                       **{k: v for k, v in plan.items() if k not in ("base", "note")}}
    summary["model"] = {"note": plan["note"], "dtype": base.dtype}
    model_box: dict[str, Any] = {}

    def build() -> dict[str, Any]:
        t0 = time.perf_counter()
        model = runner.build_model(base)
        if cuda:
            torch.cuda.synchronize(device)
        model_box["model"] = model
        arch = model.arch
        return {"seconds": time.perf_counter() - t0, "params": model.n_params, "weights_bytes": model.weights_bytes,
                "architecture": arch.to_dict(),
                "allocated_bytes": torch.cuda.memory_allocated(device) if cuda else None}

    built = section("build", build)
    if built:
        summary["model"].update({"params": built["params"], "weights_bytes": built["weights_bytes"],
                                 "n_layers": built["architecture"]["n_layers"], "build_s": built["seconds"]})

    def run(name: str, min_left_s: float, **changes: Any) -> None:
        if "model" not in model_box:
            results["errors"][name] = "skipped: no model"
            return
        cfg = base.__class__(**{**base.to_dict(), "prompt_len": plan["prompt"], "record_passes": False, **changes})
        rec = section(name, lambda: runner.run_engine(cfg, model=model_box["model"]), min_left_s)
        if rec:
            summary.setdefault("runs", {})[name] = _headline(rec)
            _write(out_summary, summary)

    s16 = {"mode": "block_uniform", "commit_rule": "schedule", "tokens_per_step": 16}
    run("diffusion_block256_s16", 20, gen_len=plan["diff_gen"], **s16)
    run("ar", 20, mode="ar", gen_len=plan["ar_gen"])
    run("diffusion_block256_step_cap48", 30, mode="block_uniform", commit_rule="entropy",
        max_denoising_steps=48, gen_len=plan["cap_gen"])
    run("diffusion_mask_block256_s16", 30, mode="block_mask", commit_rule="schedule", tokens_per_step=16,
        block_alignment="prompt_end", gen_len=plan["cap_gen"])
    run("diffusion_block256_s16_batch4", 40, gen_len=plan["batch_gen"], batch=4, **s16)
    run("ar_batch4", 40, mode="ar", gen_len=plan["ar_gen"] // 2, batch=4)
    run("diffusion_block256_s16_grouped", 40, gen_len=plan["batch_gen"], moe_impl="grouped", **s16)

    def grid() -> list[dict[str, Any]]:
        points = []
        for b in plan["grid_batches"]:
            for c in plan["grid_contexts"]:
                points.append({"kind": "ar_step", "queries": 1, "context": c, "batch": b})
                for q in plan["grid_queries"]:
                    points.append({"kind": "diffusion_step", "queries": q, "context": c, "batch": b})
                points.append({"kind": "commit", "queries": plan["grid_queries"][-1], "context": c, "batch": b})
        points += [{"kind": "prefill", "queries": q, "context": 0, "batch": 1} for q in plan["prefill"]]
        return runner.time_passes(base, points, model=model_box["model"], reps=plan["reps"],
                                  deadline=deadline - 10)

    if "model" in model_box:
        rows = section("pass_grid", grid, 30)
        if rows:
            summary["pass_grid"] = [{k: r[k] for k in ("kind", "batch", "queries", "context", "seconds_median",
                                                       "experts_touched_mean")} for r in rows]
    results["elapsed_s"] = time.perf_counter() - t_start
    summary["elapsed_s"] = results["elapsed_s"]
    summary["errors"] = sorted(results["errors"])
    _write(out_all, results)
    _write(out_summary, summary)
    _say(f"done in {results['elapsed_s']:.0f} s; errors/skips: {summary['errors'] or 'none'}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
