"""Regenerate estimator/data/priors.json from the dev files (measured runs)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from estimator.core.priors import PRIORS_PATH
from estimator.core.priors_build import build_priors_document, check_finite, write_priors
from catalog_sources import load_devices, load_models, load_quants


class Command(BaseCommand):
    help = "Fit the efficiency priors on measured_runs_dev.csv and diffusion_runs_dev.csv; write priors.json."

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", type=Path, default=None,
                            help="folder with the CSVs (default: settings.HWFIT_SHARED_DATA)")
        parser.add_argument("--out", type=Path, default=PRIORS_PATH, help=f"output file (default: {PRIORS_PATH})")
        parser.add_argument("--no-lodo", action="store_true",
                            help="skip the leave-one-device-out error bands (faster; bands left empty)")

    def handle(self, *args, data_dir: Path | None, out: Path, no_lodo: bool, **options):
        data_dir = Path(data_dir or settings.HWFIT_SHARED_DATA)
        document = build_priors_document(data_dir, load_models(data_dir), load_quants(data_dir),
                                         load_devices(data_dir), lodo=not no_lodo)
        check_finite(document)
        path = write_priors(document, out)
        fitted = document["fit"]["rows_fitted"]
        self.stdout.write(f"fitted {len(document['groups'])} groups on {fitted} rows "
                          f"({document['fit']['rows_excluded']} excluded) -> {path}")
