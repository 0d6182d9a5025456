"""import_catalog and seed_catalog as an operator runs them: what they print, and how they fail.

import_catalog's validation is being reworked; these tests pin what the command does today: it
reports what it created and updated, names the folder that lacks the CSVs, and leaves the
catalog untouched when a row breaks an invariant.
"""

from __future__ import annotations

import csv
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from devices.models import CloudOffer, Device
from hwfit.testing import source_counts
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime

pytestmark = pytest.mark.django_db

DATA = Path(settings.HWFIT_SHARED_DATA)


def copy_of_sources(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    return folder


def edit_csv(path: Path, row_index: int, **values) -> None:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    rows[row_index].update(values)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def test_import_catalog_updates_the_seeded_catalog_in_place(tmp_path):
    out = StringIO()
    call_command("import_catalog", "--data-dir", str(DATA), stdout=out)
    counts = source_counts()
    # The seeded catalog came from these CSVs: every record is found and updated, none duplicated.
    assert f"models: 0 created, {counts['models']} updated" in out.getvalue()
    assert f"devices: 0 created, {counts['devices']} updated" in out.getvalue()
    assert ModelArchitecture.objects.count() == counts["models"] and Device.objects.count() == counts["devices"]


def test_import_catalog_names_a_folder_without_the_csvs(tmp_path):
    with pytest.raises(CommandError, match=f"No models.csv in {tmp_path}"):
        call_command("import_catalog", "--data-dir", str(tmp_path))


def test_import_catalog_writes_nothing_when_a_row_breaks_an_invariant(tmp_path):
    data = copy_of_sources(tmp_path)
    # Models and quantizations import before devices; a device with a negative bandwidth fails after them.
    edit_csv(data / "devices.csv", 0, memory_bandwidth_gbs="-1")
    ModelArchitecture.objects.filter(slug="llama-3-1-8b").update(hidden_size=1234)  # an edit the import would undo
    before = {model: model.objects.count() for model in (ModelArchitecture, QuantizationFormat, Device, Runtime,
                                                         CloudOffer, ApiPrice)}
    with pytest.raises(CommandError) as caught:
        call_command("import_catalog", "--data-dir", str(data))
    assert "memory_bandwidth_gbs" in str(caught.value)
    # Rolled back whole: the earlier tables were not rewritten either.
    assert ModelArchitecture.objects.get(slug="llama-3-1-8b").hidden_size == 1234
    assert {model: model.objects.count() for model in before} == before


def test_import_catalog_names_the_model_whose_row_breaks_an_invariant(tmp_path):
    data = copy_of_sources(tmp_path)
    with open(data / "models.csv", newline="", encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    edit_csv(data / "models.csv", 0, active_params_b=str(float(first["total_params_b"]) + 1))
    with pytest.raises(CommandError) as caught:
        call_command("import_catalog", "--data-dir", str(data))
    assert "active_params_b" in str(caught.value)


def test_seed_catalog_leaves_a_catalog_with_data_alone(tmp_path):
    ModelArchitecture.objects.filter(slug="llama-3-1-8b").update(hidden_size=1234)
    out = StringIO()
    call_command("seed_catalog", stdout=out)
    assert f"already holds {source_counts()['models']} models" in out.getvalue()
    assert ModelArchitecture.objects.get(slug="llama-3-1-8b").hidden_size == 1234


def test_seed_catalog_fills_an_empty_catalog_and_force_reloads(tmp_path):
    for model in (ApiPrice, CloudOffer, ModelArchitecture, QuantizationFormat, Device, Runtime):
        model.objects.all().delete()
    out = StringIO()
    call_command("seed_catalog", stdout=out)
    counts = source_counts()
    assert f"{counts['models']} models" in out.getvalue()
    assert (ModelArchitecture.objects.count(), Device.objects.count(), CloudOffer.objects.count()) == (
        counts["models"], counts["devices"], counts["cloud_offers"])
    ModelArchitecture.objects.filter(slug="llama-3-1-8b").update(hidden_size=1234)
    call_command("seed_catalog", "--force", stdout=StringIO())
    assert ModelArchitecture.objects.get(slug="llama-3-1-8b").hidden_size == 4096
