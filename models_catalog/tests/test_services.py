import shutil

import pytest
from django.conf import settings

from devices.models import CloudOffer, Device
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime
from models_catalog.services import CatalogImportError, catalog_import, parse_as_of

pytestmark = pytest.mark.django_db


def table_sizes() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (ModelArchitecture, QuantizationFormat, Device, Runtime, CloudOffer, ApiPrice))


def test_it_reimports_idempotently_updating_instead_of_duplicating():
    before = table_sizes()
    counts = catalog_import(data_dir=settings.HWFIT_SHARED_DATA)
    assert table_sizes() == before  # the fixture is what the import produces: nothing new
    assert sum(counts.created.values()) == 0
    assert counts.updated["models"] == 52


def test_it_restores_an_edited_fact_from_its_source():
    ModelArchitecture.objects.filter(slug="llama-3-1-8b").update(n_layers=99)
    catalog_import(data_dir=settings.HWFIT_SHARED_DATA)
    assert ModelArchitecture.objects.get(slug="llama-3-1-8b").n_layers == 32


def test_the_catalog_meets_the_minimum_sizes_with_sources():
    assert Device.objects.count() >= 70
    assert ModelArchitecture.objects.count() >= 30
    assert QuantizationFormat.objects.count() >= 20
    for model in (ModelArchitecture, QuantizationFormat, Device, Runtime, CloudOffer, ApiPrice):
        assert not model.objects.filter(source="").exists(), model


def test_it_rejects_a_bad_row_and_writes_nothing(tmp_path):
    for csv in settings.HWFIT_SHARED_DATA.glob("*.csv"):
        shutil.copy(csv, tmp_path / csv.name)
    models_csv = tmp_path / "models.csv"
    text = models_csv.read_text()
    # Give TinyLlama more active than total parameters: the row must be refused, by name.
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("TinyLlama"))
    cells = lines[index].split(",")
    cells[4] = "2.0"  # active_params_b > total 1.1
    lines[index] = ",".join(cells)
    models_csv.write_text("\n".join(lines) + "\n")
    ModelArchitecture.objects.filter(slug="llama-3-1-8b").update(n_layers=99)
    with pytest.raises(CatalogImportError, match="tinyllama.*Active parameters"):
        catalog_import(data_dir=tmp_path)
    # Atomic: the rows before the bad one were not rewritten either.
    assert ModelArchitecture.objects.get(slug="llama-3-1-8b").n_layers == 99


def test_it_refuses_a_folder_without_the_csvs(tmp_path):
    with pytest.raises(CatalogImportError, match="No models.csv"):
        catalog_import(data_dir=tmp_path)


def test_it_parses_as_of_dates_and_keeps_undated_text():
    assert str(parse_as_of("2026-11-09")) == "2026-11-09"
    assert str(parse_as_of("2026-06")) == "2026-06-01"
    assert parse_as_of("seed (undated)") is None
