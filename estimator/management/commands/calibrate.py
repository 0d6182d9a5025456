"""Calibrate this machine's device in the foreground, or fit records measured elsewhere.

    python manage.py calibrate [--quick] [--preset cpu|gpu|quick] [--threads N]
    python manage.py calibrate --import-records out/records.jsonl --device nvidia-h200-sxm
    python manage.py calibrate --fit-runtime llama-cpp --device nvidia-geforce-rtx-4090

The first probes the device (the engine's probe), finds it in the catalog or proposes it,
creates a CalibrationRun and runs it here with a progress bar (no broker needed), then prints
the fit. The second fits engine records written by `estimator/engine/gpu_calibrate.sh` on a
GPU host; the third fits a runtime on a device from its imported measured runs.
"""

from __future__ import annotations

import json
import socket
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from devices.models import Device
from estimator.calibration import fits as fits_service
from estimator.calibration import runs as runs_service
from estimator.calibration.workers import worker_register
from estimator.models import CalibrationFit
from models_catalog.models import Runtime


class Bar:
    """A one-line progress bar on stderr."""

    def __init__(self, stream=sys.stderr, width: int = 30) -> None:
        self.stream, self.width, self.start = stream, width, time.monotonic()

    def __call__(self, done: int, total: int, key: str) -> None:
        filled = int(self.width * done / max(total, 1))
        elapsed = time.monotonic() - self.start
        end = "\n" if done == total or not self.stream.isatty() else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {elapsed:6.1f} s  {key[:60]:60s}{end}")
        self.stream.flush()


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--quick", action="store_true",
                            help="the quick grid, one thread (well under 3 minutes on a CPU)")
        parser.add_argument("--preset", choices=("tiny", "quick", "cpu", "gpu"), help="grid preset (default: the device kind's)")
        parser.add_argument("--threads", type=int, help="torch CPU threads (a shared host is steadier with 1)")
        parser.add_argument("--import-records", metavar="FILE", help="fit engine records (JSON lines) measured elsewhere")
        parser.add_argument("--fit-runtime", metavar="RUNTIME", help="fit a runtime on --device from imported runs")
        parser.add_argument("--device", help="catalog device slug (with --import-records / --fit-runtime)")

    def handle(self, *args, **options) -> None:
        if options["import_records"]:
            fit = self._import_records(options["import_records"], self._device(options["device"]))
        elif options["fit_runtime"]:
            runtime = Runtime.objects.filter(slug=options["fit_runtime"]).first()
            if runtime is None:
                raise CommandError(f"--fit-runtime: no runtime {options['fit_runtime']!r} in the catalog")
            fit = self._fit(lambda: fits_service.calibration_fit_runtime(device=self._device(options["device"]),
                                                                          runtime=runtime))
        else:
            fit = self._calibrate_here(options)
        self._print_fit(fit)

    def _device(self, slug: str | None) -> Device:
        device = Device.objects.filter(slug=slug).first() if slug else None
        if device is None:
            raise CommandError(f"--device: give a catalog device slug (got {slug!r})")
        return device

    def _fit(self, make) -> CalibrationFit:
        try:
            return make()
        except (fits_service.CalibrationError, ValueError) as exc:
            raise CommandError(str(exc)) from None

    def _import_records(self, path: str, device: Device) -> CalibrationFit:
        try:
            with open(path, encoding="utf-8") as handle:
                records = [json.loads(line) for line in handle if line.strip()]
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"--import-records: {exc}") from None
        records = [r for r in records if "point" in r and "seconds" in r]   # pass records only
        return self._fit(lambda: fits_service.engine_records_fit(device=device, records=records))

    def _calibrate_here(self, options) -> CalibrationFit:
        from estimator.engine import probe_device

        if options["quick"] and not options["threads"]:
            # One thread: on a busy host, OpenMP threads that wait on each other turn a second of
            # work into a minute, and --quick must finish in minutes anywhere.
            options["threads"] = 1
        if options["threads"]:
            import torch

            torch.set_num_threads(options["threads"])
        self.stderr.write("probing this machine's device ...")
        probe = probe_device("auto")
        worker = worker_register(hostname=f"manage.py@{socket.gethostname()}", probe=probe)
        flag = " (proposed from the probe: staff should confirm it)" if worker.device_proposed else ""
        self.stderr.write(f"device: {worker.device.name} [{worker.device.slug}]{flag}")
        preset = "quick" if options["quick"] else options["preset"]
        try:
            run = runs_service.calibration_run_request(device=worker.device, preset=preset, threads=options["threads"],
                                                       dispatch=False)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"calibration run #{run.pk}: {run.total} configurations ({run.preset} grid)")
        fit = runs_service.calibration_run_execute(run_id=run.pk, worker=worker.hostname, progress=Bar(self.stderr._out))
        run.refresh_from_db()
        if fit is None:
            raise CommandError(f"calibration run #{run.pk} {run.status}: {run.error}")
        return fit

    def _print_fit(self, fit: CalibrationFit) -> None:
        out = self.stdout
        out.write(f"fit #{fit.pk}: {fit.device.name} / {fit.runtime.slug}  ({fit.n_runs} runs, {fit.folds}-fold CV)")
        out.write(f"  eff_m {fit.eff_m:.3f}  eff_c {fit.eff_c:.3f}  eff_attn {fit.eff_attn:.3f}  "
                  f"t_fixed {fit.t_fixed_s * 1e3:.3f} ms  t_layer {fit.t_layer_s * 1e6:.1f} us  "
                  f"t_expert {fit.t_expert_s * 1e6:.1f} us")
        out.write(f"  held-out |error|: p10 {fit.error_p10_pct:.1f}%  median {fit.error_median_pct:.1f}%  "
                  f"p90 {fit.error_p90_pct:.1f}%   (prior on the same runs: median {fit.prior_error_median_pct:.1f}%)")
        for metric, band in fit.detail.get("band_by_metric", {}).items():
            out.write(f"    {metric:9s} n={band['n']:3d}  median {band['median_pct']:.1f}%  p90 {band['p90_pct']:.1f}%")
        out.write(f"  {'configuration':44s} {'measured':>10s} {'fitted':>10s} {'held-out':>10s} {'prior':>10s}  tok/s")
        for row in fit.detail.get("runs", []):
            out.write(f"  {str(row['label'])[:44]:44s} {row['measured_tok_s']:10.4g} {row['fitted_tok_s']:10.4g} "
                      f"{(row['cv_tok_s'] or float('nan')):10.4g} {row['prior_tok_s']:10.4g}")
