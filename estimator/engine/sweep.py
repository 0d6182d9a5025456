"""The calibration sweep: which configurations a device runs, and running them one by one.

A sweep is a list of configurations, each one forward pass of one model shape at one
(kind, batch, queries, context) point, named by a stable key. `default_sweep(preset)` gives
the grid of a device kind; `run_sweep` builds each shape once, times its points and hands every
finished configuration's record to a callback (a Celery task stores it as one database row,
the GPU script appends it to a JSONL file). No Django here, so the same code runs on a bare GPU
host that only has torch (docs/calibration.md).

The grid spans the regimes the estimator models: AR decode at several batches and cached
lengths (memory-bound, then compute-bound as the batch grows), prefill chunks (compute-bound),
block-diffusion steps at several block sizes (= tokens per forward of the step), batches and
prefix lengths, commit passes, on a dense and a MoE shape (experts touched grow with the tokens
routed). Presets:
    tiny   seconds on a CPU (tests): small shapes, few points
    quick  well under a minute on a quiet CPU (`calibrate --quick`): the cpu shapes, 9 points each
    cpu    a minute or two on a CPU: scaled shapes large enough to leave the caches, timed twice
    gpu    fills a large GPU: full-size DiffusionGemma-26B-A4B layers in bf16, block 256, plus
           a dense 8B-class shape
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

SWEEP_VERSION = 1
# The engine's pass kinds (estimator/engine/engine.py KINDS), repeated here so that validating a
# grid in the web process does not import torch.
PASS_KINDS = ("prefill", "ar_step", "diffusion_step", "commit", "full", "prefix_step")
PRESETS = ("tiny", "quick", "cpu", "gpu")

# A dense decoder large enough (~68 MB in fp32) that batch-1 decoding reads from DRAM, not cache.
_CPU_DENSE = {
    "slug": "sweep-dense-s", "name": "Sweep dense (CPU scale)", "generation_mode": "block_diffusion",
    "diffusion_attention": "block_causal", "n_layers": 4, "hidden_size": 512, "n_heads": 8, "n_kv_heads": 4,
    "head_dim": 64, "intermediate_size": 1536, "vocab_size": 8192, "tied_embeddings": True, "block_size": 32,
}
# DiffusionGemma's layout (sliding + global layers, experts beside a dense MLP, self-conditioning)
# scaled down for a CPU: 6 layers, hidden 704, 32 experts (top-2) of 176, vocabulary 8192.
_CPU_MOE_SCALE = {"scale_layers": 0.2, "scale_width": 0.25, "scale_experts": 0.25, "scale_vocab": 1 / 32}
_QUICK_DENSE = {**_CPU_DENSE, "slug": "sweep-dense-xs", "name": "Sweep dense (quick)", "n_layers": 2,
                "hidden_size": 256, "n_heads": 4, "n_kv_heads": 2, "intermediate_size": 768, "vocab_size": 4096}
_QUICK_MOE_SCALE = {"scale_layers": 0.1, "scale_width": 0.125, "scale_experts": 0.125, "scale_vocab": 1 / 64}
# A dense 8B-class decoder (Llama-3-8B's shape) for the GPU: the dense regime at full size.
_GPU_DENSE = {
    "slug": "sweep-dense-8b", "name": "Sweep dense 8B (Llama-3-8B shape)", "generation_mode": "block_diffusion",
    "diffusion_attention": "block_causal", "n_layers": 32, "hidden_size": 4096, "n_heads": 32, "n_kv_heads": 8,
    "head_dim": 128, "intermediate_size": 14336, "vocab_size": 128256, "tied_embeddings": False,
    "block_size": 32,
}


def _points(ar: list[tuple[int, int]], prefill: list[int], diffusion: list[tuple[int, int, int]],
            commit: list[tuple[int, int]]) -> list[dict[str, int]]:
    """Pass points: ar (batch, context), prefill (tokens), diffusion (block, batch, context), commit (block, context)."""
    out = [{"kind": "ar_step", "batch": b, "queries": 1, "context": c} for b, c in ar]
    out += [{"kind": "prefill", "batch": 1, "queries": q, "context": 0} for q in prefill]
    out += [{"kind": "diffusion_step", "batch": b, "queries": q, "context": c} for q, b, c in diffusion]
    out += [{"kind": "commit", "batch": 1, "queries": q, "context": c} for q, c in commit]
    return out


def default_sweep(preset: str = "cpu") -> list[dict[str, Any]]:
    """The sweep of a device kind: a list of shape groups {"shape", "config", "points", "rounds"}.

    `config` is a RunConfig mapping (model, scale, dtype); `points` the pass points timed on it;
    `rounds` (default 1) how many times the whole shape is timed, keeping each point's minimum.
    """
    if preset == "tiny":
        points = _points(ar=[(1, 0), (1, 256), (4, 0), (16, 128)], prefill=[64, 192],
                         diffusion=[(16, 1, 64), (32, 2, 128)], commit=[(16, 64)])
        return [
            {"shape": "dense-xs", "config": {"arch": _QUICK_DENSE, "dtype": "fp32"}, "points": points},
            {"shape": "dgemma-moe-xs", "config": {"arch": "diffusiongemma-26b-a4b", "dtype": "fp32",
                                                   **_QUICK_MOE_SCALE}, "points": points},
        ]
    if preset == "quick":
        points = _points(ar=[(1, 0), (4, 256), (32, 0)], prefill=[64, 256],
                         diffusion=[(16, 1, 256), (64, 1, 512), (128, 1, 256)], commit=[(32, 256)])
        return [
            {"shape": "dense-s", "config": {"arch": _CPU_DENSE, "dtype": "fp32"}, "points": points},
            {"shape": "dgemma-moe-s", "config": {"arch": "diffusiongemma-26b-a4b", "dtype": "fp32",
                                                  **_CPU_MOE_SCALE}, "points": points},
        ]
    if preset == "cpu":
        points = _points(ar=[(1, 0), (1, 512), (4, 0), (4, 512), (16, 256), (32, 0), (64, 128)],
                         prefill=[64, 256, 512, 1024],
                         diffusion=[(16, 1, 256), (32, 1, 0), (32, 4, 256), (64, 1, 512), (64, 2, 256),
                                    (128, 1, 256), (128, 2, 1024), (256, 1, 512)],
                         commit=[(32, 256), (128, 512)])
        return [
            {"shape": "dense-s", "config": {"arch": _CPU_DENSE, "dtype": "fp32"}, "points": points, "rounds": 2},
            {"shape": "dgemma-moe-s", "config": {"arch": "diffusiongemma-26b-a4b", "dtype": "fp32",
                                                  **_CPU_MOE_SCALE}, "points": points, "rounds": 2},
        ]
    if preset == "gpu":
        moe = _points(ar=[(1, 0), (1, 4096), (1, 16384), (8, 4096), (32, 4096), (128, 1024)],
                      prefill=[512, 2048, 8192],
                      diffusion=[(256, 1, 0), (256, 1, 1024), (256, 1, 4096), (256, 1, 16384), (256, 2, 1024),
                                 (256, 4, 1024), (256, 8, 1024), (64, 1, 1024), (128, 1, 1024), (16, 1, 1024),
                                 (32, 4, 1024)],
                      commit=[(256, 1024), (256, 8192)])
        dense = _points(ar=[(1, 0), (1, 8192), (16, 2048), (64, 1024), (256, 512)], prefill=[512, 4096],
                        diffusion=[(32, 1, 1024), (32, 8, 1024), (256, 1, 2048), (256, 4, 2048)],
                        commit=[(32, 1024)])
        return [
            {"shape": "dgemma-26b-a4b", "config": {"arch": "diffusiongemma-26b-a4b", "dtype": "bf16",
                                                    "moe_impl": "grouped"}, "points": moe},
            {"shape": "dense-8b", "config": {"arch": _GPU_DENSE, "dtype": "bf16"}, "points": dense},
        ]
    raise ValueError(f"preset: one of {', '.join(PRESETS)}, got {preset!r}")


def preset_for(device_kind: str) -> str:
    """The default preset of a device kind: 'gpu' for GPUs, 'cpu' otherwise."""
    return "gpu" if device_kind == "gpu" else "cpu"


def config_key(shape: str, point: Mapping[str, Any]) -> str:
    """A configuration's stable name within a run: unique per (shape, kind, batch, queries, context)."""
    return f"{shape}|{point['kind']}|b{int(point['batch'])}|q{int(point['queries'])}|c{int(point.get('context', 0))}"


def configurations(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flat list of a sweep's configurations: {"key", "shape", "config", "point"}; keys unique."""
    out, seen = [], set()
    for group in groups:
        for point in group["points"]:
            key = config_key(group["shape"], point)
            if key in seen:
                raise ValueError(f"grid: configuration {key} appears twice")
            seen.add(key)
            out.append({"key": key, "shape": group["shape"], "config": dict(group["config"]), "point": dict(point)})
    return out


def validate_grid(groups: Any) -> list[dict[str, Any]]:
    """Check a grid given by a user (API, admin) without torch; returns its configurations.

    Raises ValueError naming what is wrong (unknown option, bad kind, non-positive size).
    """
    from .config import RunConfig

    if not isinstance(groups, list) or not groups:
        raise ValueError("grid: a non-empty list of {shape, config, points} groups")
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or not {"shape", "config", "points"} <= set(group):
            raise ValueError(f"grid[{i}]: needs shape, config and points")
        try:
            RunConfig.from_any({**group["config"], "device": "cpu"}).resolved()
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"grid[{i}].config: {exc}") from None
        if not isinstance(group["points"], list) or not group["points"]:
            raise ValueError(f"grid[{i}].points: a non-empty list")
        for j, point in enumerate(group["points"]):
            if not isinstance(point, dict) or point.get("kind") not in PASS_KINDS:
                raise ValueError(f"grid[{i}].points[{j}].kind: one of {', '.join(PASS_KINDS)}")
            for name in ("batch", "queries"):
                if not isinstance(point.get(name), int) or point[name] < 1:
                    raise ValueError(f"grid[{i}].points[{j}].{name}: a whole number >= 1")
            if not isinstance(point.get("context", 0), int) or point.get("context", 0) < 0:
                raise ValueError(f"grid[{i}].points[{j}].context: a whole number >= 0")
            if point["kind"] == "ar_step" and point["queries"] != 1:
                raise ValueError(f"grid[{i}].points[{j}].queries: ar_step takes 1")
        if not isinstance(group.get("rounds", 1), int) or not 1 <= group.get("rounds", 1) <= 10:
            raise ValueError(f"grid[{i}].rounds: a whole number from 1 to 10")
    return configurations(groups)


RecordFn = Callable[[dict[str, Any]], None]
ProgressFn = Callable[[int, int, str], None]


def run_sweep(groups: list[dict[str, Any]], *, device: str = "auto", threads: int | None = None, reps: int = 3,
              skip: set[str] | frozenset[str] = frozenset(), deadline: float | None = None,
              on_record: RecordFn | None = None, progress: ProgressFn | None = None) -> Iterator[dict[str, Any]]:
    """Time every configuration not in `skip`; yield (and pass to `on_record`) one record each.

    Each shape's model is built once. `deadline` (a time.perf_counter() value) stops before the
    next configuration once passed. A record holds the point's timings (`time_passes`), the
    resolved run configuration, the architecture and the device, so it can be fitted alone.
    """
    import torch

    from .arch import count_params
    from .config import RunConfig
    from .probe import device_info, pick_device
    from .runner import build_model, time_passes

    if threads:
        torch.set_num_threads(threads)
    todo = configurations(groups)
    total = len(todo)
    done = sum(1 for c in todo if c["key"] in skip)
    dev = pick_device(device)
    info = device_info(dev)
    for group in groups:
        pending = [c for c in todo if c["shape"] == group["shape"] and c["key"] not in skip]
        if not pending:
            continue
        if deadline is not None and time.perf_counter() > deadline:
            return
        cfg = RunConfig.from_any({**group["config"], "device": str(dev)}).resolved()
        arch = cfg.architecture()
        counts = count_params(arch)
        model = build_model(cfg)
        # Earlier rounds over the whole shape first: the minimum over rounds spread in time
        # discards a burst of load from other processes that all reps of one point would share.
        earlier: dict[str, list[float]] = {item["key"]: [] for item in pending}
        for _ in range(int(group.get("rounds", 1)) - 1):
            for item in pending:
                if deadline is not None and time.perf_counter() > deadline:
                    return
                earlier[item["key"]].append(time_passes(cfg, [item["point"]], model=model, reps=reps)[0]["seconds_min"])
        for item in pending:
            if deadline is not None and time.perf_counter() > deadline:
                return
            timed = time_passes(cfg, [item["point"]], model=model, reps=reps)[0]
            rounds = [*earlier[item["key"]], timed["seconds_min"]]
            record = {
                "record_version": SWEEP_VERSION, "key": item["key"], "shape": item["shape"],
                "config": cfg.to_dict(), "architecture": arch.to_dict(),
                "params": {"total": counts["total"], "active": counts["active"], "weights_bytes": model.weights_bytes},
                "device": info, "threads": torch.get_num_threads(), "point": item["point"], **timed,
                "seconds_rounds": rounds, "seconds": min(rounds),
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            done += 1
            if on_record is not None:
                on_record(record)
            if progress is not None:
                progress(done, total, item["key"])
            yield record
        del model
        if dev.type == "cuda":
            torch.cuda.empty_cache()
