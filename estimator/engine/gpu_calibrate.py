"""Calibrate a GPU host without Django: probe, run the sweep, fit, write everything to an output folder.

    python -m estimator.engine.gpu_calibrate --out "$OUT" [--device-slug nvidia-h200-sxm] [--budget-s 330]

For a host that has torch, numpy, pandas and scipy but not the web app. On CUDA it runs the
`gpu` sweep (estimator/engine/sweep.py: full-size DiffusionGemma-26B-A4B layers in bf16 with
256-token blocks, AR decode and prefill on the same weights, and a dense 8B shape); without
CUDA the `tiny` sweep on the CPU (to test the script anywhere). Files in --out:
    probe.json      the engine's device probe
    records.jsonl   one engine record per measured configuration (appended as they finish)
    fit.json        the fit against the catalog device's datasheet figures (when --device-slug
                    names one in fixtures/catalog.json): parameters, CV band, measured vs predicted
Back in hwfit: `python manage.py calibrate --import-records records.jsonl --device <slug>`
stores the runs' fit in the database (docs/calibration.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _say(text: str) -> None:
    print(f"[gpu_calibrate {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _write(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def catalog_device(slug: str, catalog: Path = ROOT / "fixtures" / "catalog.json") -> dict[str, Any] | None:
    """A device row of the fixture catalog by slug (read as JSON: no Django here)."""
    for item in json.loads(catalog.read_text()):
        if item["model"] == "devices.device" and item["fields"]["slug"] == slug:
            return dict(item["fields"])
    return None


def fit_records(records: list[dict[str, Any]], device: dict[str, Any]) -> dict[str, Any]:
    """The calibration of `device` from engine records, JSON-able (estimator.core.calibrate)."""
    from estimator.core import calibrate as cal
    from estimator.core.priors import load_priors

    priors = load_priors()
    terms = cal.engine_terms(records, device, priors)
    units, clock = device.get("compute_units"), device.get("boost_clock_mhz")
    rate = units * clock * 1e6 if units and clock else None
    result = cal.calibrate(terms, cal.prior_for(priors, cal.ENGINE_RUNTIME, device["kind"], device["vendor"],
                                                issue_rate=rate))
    return {"device": device["slug"], **result.summary()}


def _table(fit: dict[str, Any]) -> str:
    lines = [f"{'configuration':48s} {'measured':>10s} {'fitted':>10s} {'held-out':>10s} {'prior':>10s}  tok/s"]
    for row in fit["runs"]:
        cv = row["cv_tok_s"] if row["cv_tok_s"] is not None else float("nan")
        lines.append(f"{str(row['label'])[:48]:48s} {row['measured_tok_s']:10.4g} {row['fitted_tok_s']:10.4g} "
                     f"{cv:10.4g} {row['prior_tok_s']:10.4g}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Returns 0 when every configuration was measured and fitted, 1 otherwise."""
    p = argparse.ArgumentParser(prog="python -m estimator.engine.gpu_calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.environ.get("OUT") or "gpu_calibrate_out")
    p.add_argument("--device-slug", default="nvidia-h200-sxm", help="catalog device to fit against ('' = none)")
    p.add_argument("--budget-s", type=float, default=330.0, help="stop starting configurations after this many seconds")
    p.add_argument("--preset", help="sweep preset (default: gpu on CUDA, tiny otherwise)")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import torch

    from .probe import probe_device
    from .sweep import configurations, default_sweep, run_sweep

    cuda = torch.cuda.is_available()
    preset = args.preset or ("gpu" if cuda else "tiny")
    _say(f"torch {torch.__version__}, CUDA {'yes: ' + torch.cuda.get_device_name(0) if cuda else 'no'}; preset {preset}")
    probe = probe_device("cuda" if cuda else "cpu", quick=not cuda)
    _write(out / "probe.json", probe)
    _say(f"probe: {probe['name']}, {probe['memory_bandwidth_gbs']:.0f} GB/s copy, "
         f"bf16 {probe.get('bf16_tflops') or 0:.1f} TFLOPS")

    groups = default_sweep(preset)
    total = len(configurations(groups))
    records: list[dict[str, Any]] = []
    path = out / "records.jsonl"
    path.write_text("")

    def keep(record: dict[str, Any]) -> None:
        records.append(record)
        with path.open("a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    def show(done: int, all_: int, key: str) -> None:
        _say(f"{done}/{all_} {key}: {records[-1]['seconds'] * 1e3:.2f} ms")

    status = 0
    try:
        for _ in run_sweep(groups, device="cuda" if cuda else "cpu", reps=args.reps, deadline=started + args.budget_s,
                           on_record=keep, progress=show):
            pass
    except Exception:  # keep what was measured; the traceback says what stopped it
        _say("sweep stopped by an error:\n" + traceback.format_exc())
        status = 1
    if len(records) < total:
        _say(f"measured {len(records)} of {total} configurations")
        status = 1
    device = catalog_device(args.device_slug) if args.device_slug else None
    if not cuda:
        # The CPU fallback fits against what the probe measured: a datasheet GPU row means nothing here.
        device = {**probe, "slug": "probed-cpu", "kind": "cpu"}
    if device is not None and len(records) >= 3:
        try:
            fit = fit_records(records, device)
            _write(out / "fit.json", fit)
            band = fit["band"]
            _say(f"fit against {device['name']}: {json.dumps(fit['params'])}")
            _say(f"held-out |error| p10 {band['p10_pct']:.1f}% median {band['median_pct']:.1f}% "
                 f"p90 {band['p90_pct']:.1f}%; prior median {fit['prior_band']['median_pct']:.1f}%")
            print(_table(fit), flush=True)
        except Exception:
            _say("fit failed:\n" + traceback.format_exc())
            status = 1
    _say(f"done in {time.perf_counter() - started:.0f} s; files in {out}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
