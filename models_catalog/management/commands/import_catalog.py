from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from models_catalog.services import CatalogImportError, catalog_import


class Command(BaseCommand):
    help = "Create or update the catalogs from the sourced CSVs (idempotent: updates, never duplicates)."

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", type=Path, default=settings.HWFIT_SHARED_DATA,
                            help="Folder holding models.csv, devices.csv, ... (default: %(default)s)")

    def handle(self, *args, data_dir: Path, **options):
        try:
            counts = catalog_import(data_dir=data_dir)
        except CatalogImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Imported from {data_dir}: {counts.summary()}"))
