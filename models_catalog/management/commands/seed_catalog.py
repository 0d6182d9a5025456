from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from models_catalog.models import ModelArchitecture

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "catalog.json"


class Command(BaseCommand):
    help = "Load fixtures/catalog.json into an empty catalog; leave a catalog that has data (and admin edits) alone."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Load even if the catalog has data (overwrites by key).")

    def handle(self, *args, force: bool, **options):
        existing = ModelArchitecture.objects.count()
        if existing and not force:
            self.stdout.write(f"The catalog already holds {existing} models; leaving it as it is (use --force to reload).")
            return
        call_command("loaddata", str(FIXTURE), verbosity=0)
        self.stdout.write(self.style.SUCCESS(f"Loaded {FIXTURE.name}: {ModelArchitecture.objects.count()} models."))
