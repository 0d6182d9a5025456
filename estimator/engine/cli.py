"""Command line: `python -m estimator.engine [run|probe|grid|presets] ...`; prints JSON on stdout.

Examples:
    python -m estimator.engine --preset tiny-moe --mode block_mask --commit-rule schedule --tokens-per-step 4
    python -m estimator.engine --preset diffusiongemma-26b-a4b --scale 0.125 --mode block_uniform \\
        --commit-rule schedule --tokens-per-step 16 --gen-len 256
    python -m estimator.engine --arch-json my_model.json --mode ar --gen-len 128
    python -m estimator.engine probe
    python -m estimator.engine grid --preset tiny-moe --kinds diffusion_step,ar_step --queries 1,8 --contexts 0,64
A progress line goes to stderr during a run (`--quiet` turns it off).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .config import MODES, RunConfig
from .presets import preset_names


class ProgressLine:
    """A throttled progress display on stderr: one rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream=None, every_s: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr  # looked up now: tests swap sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s if every_s is not None else (0.25 if self.tty else 5.0)
        self.last = 0.0
        self.shown = False

    def __call__(self, state: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        done, total, elapsed = state["tokens_done"], state["tokens_total"], state["elapsed_s"]
        rate = done / elapsed if elapsed > 0 else 0.0
        text = (f"forwards {state['forwards']:5d}  tokens {done}/{total}  "
                f"{elapsed:7.1f} s  {rate:8.2f} tok/s")
        self.stream.write(("\r" + text) if self.tty else (text + "\n"))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _value(text: str) -> Any:
    """`--set key=value` values: JSON when it parses (numbers, true, null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _add_model_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", default="tiny-moe", help=f"one of: {', '.join(preset_names())}")
    src.add_argument("--arch-json", help="a JSON file with the catalog's architecture fields")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override an architecture field, e.g. --set sliding_window=64")
    p.add_argument("--scale", type=float, help="scale layers, width, experts and vocabulary by this factor")
    for part in ("layers", "width", "experts", "vocab"):
        p.add_argument(f"--scale-{part}", type=float, help=f"scale {part} only (overrides --scale)")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16", "fp64"))
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1 ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--moe-impl", default="loop", choices=("loop", "grouped"))
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", help="also write the JSON here")


def _config_from(args: argparse.Namespace, **extra: Any) -> RunConfig:
    if args.arch_json:
        with open(args.arch_json) as fh:
            arch: str | dict[str, Any] = json.load(fh)
    else:
        arch = args.preset
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects FIELD=VALUE, got {item!r}")
        overrides[key] = _value(value)
    scale = {f"scale_{part}": (getattr(args, f"scale_{part}") or args.scale or 1.0)
             for part in ("layers", "width", "experts", "vocab")}
    return RunConfig(arch=arch, overrides=overrides, dtype=args.dtype, device=args.device, seed=args.seed,
                     moe_impl=args.moe_impl, **scale, **extra)


def _emit(obj: Any, out: str | None) -> None:
    text = json.dumps(obj, indent=2, default=str)
    print(text)
    if out:
        with open(out, "w") as fh:
            fh.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in ("run", "probe", "grid", "presets") else "run"
    if command == "presets":
        _emit(preset_names(), None)
        return 0
    if command == "probe":
        p = argparse.ArgumentParser(prog="python -m estimator.engine probe")
        p.add_argument("--device", default="auto")
        p.add_argument("--quick", action="store_true", help="small sizes (seconds)")
        p.add_argument("--threads", type=int, help="torch CPU threads")
        p.add_argument("--out")
        args = p.parse_args(argv)
        from .probe import probe_device

        if args.threads:
            import torch

            torch.set_num_threads(args.threads)

        _emit(probe_device(args.device, quick=args.quick), args.out)
        return 0

    p = argparse.ArgumentParser(prog=f"python -m estimator.engine {command}",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_model_args(p)
    if command == "grid":
        p.add_argument("--kinds", default="ar_step,diffusion_step,commit")
        p.add_argument("--queries", default="1,16,64", help="comma-separated; ar_step always uses 1")
        p.add_argument("--contexts", default="0,256")
        p.add_argument("--batches", default="1")
        p.add_argument("--reps", type=int, default=3)
    else:
        p.add_argument("--mode", default="block_mask", choices=MODES)
        p.add_argument("--commit-rule", choices=("threshold", "schedule", "entropy"))
        p.add_argument("--threshold", type=float, default=0.9)
        p.add_argument("--tokens-per-step", type=int, default=4)
        p.add_argument("--block-size", type=int)
        p.add_argument("--block-alignment", choices=("absolute", "prompt_end"))
        p.add_argument("--commit-attention", choices=("block", "causal"))
        p.add_argument("--commit-last-block", choices=("yes", "no"))
        p.add_argument("--prompt-len", type=int, default=32)
        p.add_argument("--gen-len", type=int, default=64)
        p.add_argument("--batch", type=int, default=1)
        p.add_argument("--max-denoising-steps", type=int, default=48)
        p.add_argument("--entropy-bound", type=float, default=0.1)
        p.add_argument("--no-warmup", action="store_true")
        p.add_argument("--no-passes", action="store_true", help="leave the per-forward list out of the record")
        p.add_argument("--record-tokens", action="store_true")
        p.add_argument("--quiet", action="store_true", help="no progress display")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    if command == "grid":
        from .runner import time_passes

        cfg = _config_from(args)
        grid = [{"kind": kind, "queries": 1 if kind == "ar_step" else q, "context": 0 if kind == "full" else c,
                 "batch": b}
                for kind in args.kinds.split(",") for q in map(int, args.queries.split(","))
                for c in map(int, args.contexts.split(",")) for b in map(int, args.batches.split(","))]
        grid = [dict(t) for t in dict.fromkeys(tuple(sorted(g.items())) for g in grid)]  # drop duplicates
        _emit({"config": cfg.resolved().to_dict(), "passes": time_passes(cfg, grid, reps=args.reps)}, args.out)
        return 0

    from .runner import run_engine

    cfg = _config_from(
        args, mode=args.mode, commit_rule=args.commit_rule, threshold=args.threshold,
        tokens_per_step=args.tokens_per_step, block_size=args.block_size, block_alignment=args.block_alignment,
        commit_attention=args.commit_attention,
        commit_last_block=None if args.commit_last_block is None else args.commit_last_block == "yes",
        prompt_len=args.prompt_len, gen_len=args.gen_len, batch=args.batch,
        max_denoising_steps=args.max_denoising_steps, entropy_bound=args.entropy_bound,
        warmup=not args.no_warmup, record_passes=not args.no_passes, record_tokens=args.record_tokens)
    progress = None if args.quiet else ProgressLine()
    try:
        record = run_engine(cfg, progress=progress)
    except ValueError as exc:
        if progress:
            progress.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if progress:
        progress.close()
    _emit(record, args.out)
    return 0
