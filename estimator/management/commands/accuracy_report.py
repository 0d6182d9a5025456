"""Predicted vs measured for every dev row: print the summary, write the CSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from django.conf import settings
from django.core.management.base import BaseCommand

from estimator.core.accuracy import accuracy_report
from estimator.core.priors import load_priors
from catalog_sources import load_devices, load_models, load_quants


class Command(BaseCommand):
    help = ("Accuracy of the estimator on the dev files: median/mean |error| % by metric, runtime, device kind "
            "and model family, in-sample and leave-one-device-out.")

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=Path("reports/accuracy.csv"),
                            help="summary CSV (the per-row CSV is written next to it as *_rows.csv)")
        parser.add_argument("--data-dir", type=Path, default=None,
                            help="folder with the CSVs (default: settings.HWFIT_SHARED_DATA)")
        parser.add_argument("--no-lodo", action="store_true", help="skip leave-one-device-out (faster)")

    def handle(self, *args, out: Path, data_dir: Path | None, no_lodo: bool, **options):
        data_dir = Path(data_dir or settings.HWFIT_SHARED_DATA)
        rows, summary = accuracy_report(data_dir, load_models(data_dir), load_quants(data_dir),
                                        load_devices(data_dir), load_priors(), lodo=not no_lodo)
        out.parent.mkdir(parents=True, exist_ok=True)
        summary.to_csv(out, index=False, float_format="%.2f")
        rows_path = out.with_name(out.stem + "_rows" + out.suffix)
        rows.to_csv(rows_path, index=False, float_format="%.4g")
        with pd.option_context("display.width", 200, "display.max_rows", 500):
            self.stdout.write(summary.round(1).to_string(index=False))
        excluded = rows[rows["excluded"] != ""].groupby("excluded").size().sort_values(ascending=False)
        self.stdout.write("\nexcluded rows (not predictable from the catalog):")
        for reason, count in excluded.items():
            self.stdout.write(f"  {count:4d}  {reason}")
        self.stdout.write(f"\nwrote {out} and {rows_path}")
