import shutil
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from devices.models import CloudOffer, Device
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime
from models_catalog.services import CatalogImportError, catalog_import, parse_as_of

pytestmark = pytest.mark.django_db

DATA = Path(settings.HWFIT_SHARED_DATA)


def source_rows(name: str) -> int:
    return len(pd.read_csv(DATA / name))


def table_sizes() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (ModelArchitecture, QuantizationFormat, Device, Runtime, CloudOffer, ApiPrice))


def test_it_reimports_idempotently_updating_instead_of_duplicating():
    before = table_sizes()
    counts = catalog_import(data_dir=settings.HWFIT_SHARED_DATA)
    assert table_sizes() == before  # the fixture is what the import produces: nothing new
    assert sum(counts.created.values()) == 0
    assert counts.updated["models"] == source_rows("models.csv")
    assert counts.updated["API prices"] == source_rows("api_prices.csv")
    assert counts.updated["cloud offers"] == source_rows("cloud_offers.csv")


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


def copy_sources(tmp_path: Path) -> Path:
    for csv in DATA.glob("*.csv"):
        shutil.copy(csv, tmp_path / csv.name)
    return tmp_path


def edit_cell(folder: Path, file: str, key_column: str, key: str, column: str, value: str) -> int:
    """Set one cell of a copied source CSV; returns the CSV line of the edited row."""
    frame = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
    index = frame.index[frame[key_column] == key][0]
    frame.loc[index, column] = value
    frame.to_csv(folder / file, index=False)
    return int(index) + 2


@pytest.mark.parametrize("value", ["1e400", "inf", "-inf", "nan"])
def test_it_refuses_a_non_finite_number_naming_file_row_and_column(tmp_path, value):
    folder = copy_sources(tmp_path)
    line = edit_cell(folder, "devices.csv", "name", "NVIDIA GeForce RTX 3090", "memory_gb", value)
    Device.objects.filter(slug="nvidia-geforce-rtx-3090").update(memory_gb=24.0)
    with pytest.raises(CatalogImportError) as caught:
        catalog_import(data_dir=folder)
    assert str(caught.value) == (f"devices.csv, row {line}, column 'memory_gb': {value!r} is not a finite number"
                                 " — nothing was imported.")
    assert Device.objects.get(slug="nvidia-geforce-rtx-3090").memory_gb == 24.0


def test_it_refuses_a_number_written_with_its_unit(tmp_path):
    folder = copy_sources(tmp_path)
    line = edit_cell(folder, "devices.csv", "name", "NVIDIA GeForce RTX 3060 12GB", "fp32_tflops", "12.74 TFLOPS")
    with pytest.raises(CatalogImportError, match=rf"devices.csv, row {line}, column 'fp32_tflops': '12.74 TFLOPS' is not a number"):
        catalog_import(data_dir=folder)


def test_it_refuses_a_duplicated_row_naming_both(tmp_path):
    folder = copy_sources(tmp_path)
    frame = pd.read_csv(folder / "models.csv", dtype=str, keep_default_na=False)
    first = int(frame.index[frame["name"] == "Llama 3.1 8B"][0]) + 2
    pd.concat([frame, frame[frame["name"] == "Llama 3.1 8B"]]).to_csv(folder / "models.csv", index=False)
    with pytest.raises(CatalogImportError, match=rf"models.csv, row {len(frame) + 2}, column 'name': duplicates row {first} \(Llama 3.1 8B\)"):
        catalog_import(data_dir=folder)


def test_it_refuses_a_missing_column(tmp_path):
    folder = copy_sources(tmp_path)
    pd.read_csv(folder / "api_prices.csv", dtype=str).drop(columns=["as_of"]).to_csv(folder / "api_prices.csv", index=False)
    with pytest.raises(CatalogImportError, match="api_prices.csv, row 1, column 'as_of': the column is missing from the header"):
        catalog_import(data_dir=folder)


def test_it_refuses_an_extra_column_and_the_command_says_so_without_a_traceback(tmp_path):
    folder = copy_sources(tmp_path)
    frame = pd.read_csv(folder / "cloud_offers.csv", dtype=str)
    frame["discount"] = "10%"
    frame.to_csv(folder / "cloud_offers.csv", index=False)
    before = table_sizes()
    with pytest.raises(CommandError, match="cloud_offers.csv, row 1, column 'discount': unexpected column"):
        call_command("import_catalog", data_dir=folder)
    assert table_sizes() == before


def test_the_command_imports_and_reports_counts(capsys):
    call_command("import_catalog", data_dir=DATA)
    assert f"models: 0 created, {source_rows('models.csv')} updated" in capsys.readouterr().out


def test_seed_catalog_leaves_a_catalog_with_data_alone(capsys):
    ModelArchitecture.objects.filter(slug="llama-3-1-8b").update(n_layers=99)
    call_command("seed_catalog")
    assert "leaving it as it is" in capsys.readouterr().out
    assert ModelArchitecture.objects.get(slug="llama-3-1-8b").n_layers == 99


def test_seed_catalog_loads_the_fixture_into_an_empty_catalog(capsys):
    ApiPrice.objects.all().delete()
    CloudOffer.objects.all().delete()
    ModelArchitecture.objects.all().delete()
    call_command("seed_catalog")
    assert ModelArchitecture.objects.count() == source_rows("models.csv")


def test_it_refuses_a_tied_embeddings_cell_that_is_not_true_or_false(tmp_path):
    folder = copy_sources(tmp_path)
    line = edit_cell(folder, "models.csv", "name", "Llama 3.2 1B", "tied_embeddings", "yes")
    with pytest.raises(CatalogImportError, match=rf"models.csv, row {line}, column 'tied_embeddings': 'yes' is not true or false"):
        catalog_import(data_dir=folder)


def test_it_refuses_a_tied_embeddings_state_without_its_source(tmp_path):
    folder = copy_sources(tmp_path)
    line = edit_cell(folder, "models.csv", "name", "Llama 3.2 1B", "tied_embeddings_source", "")
    with pytest.raises(CatalogImportError, match=rf"models.csv, row {line}, column 'tied_embeddings_source': a stated"):
        catalog_import(data_dir=folder)
