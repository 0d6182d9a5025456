"""Admin CSV export and import of every catalog: filtered exports, formula-safe cells, all-or-nothing imports."""

from __future__ import annotations

import csv
import io

import pytest

from devices.models import CloudOffer, Device
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime

pytestmark = pytest.mark.django_db

CATALOGS = {
    "models_catalog/modelarchitecture": ModelArchitecture,
    "models_catalog/quantizationformat": QuantizationFormat,
    "models_catalog/runtime": Runtime,
    "models_catalog/apiprice": ApiPrice,
    "devices/device": Device,
    "devices/cloudoffer": CloudOffer,
}


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _export(admin_client, catalog: str, query: str = "") -> list[dict[str, str]]:
    response = admin_client.get(f"/admin/{catalog}/export-csv/{query}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def _import(admin_client, catalog: str, rows: list[dict[str, str]], header: list[str] | None = None):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header or list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    upload = io.BytesIO(buffer.getvalue().encode())
    upload.name = "catalog.csv"
    return admin_client.post(f"/admin/{catalog}/import-csv/", {"file": upload})


@pytest.mark.parametrize("catalog", list(CATALOGS))
def test_every_catalog_exports_and_imports_its_own_export_unchanged(admin_client, catalog):
    model = CATALOGS[catalog]
    rows = _export(admin_client, catalog)
    assert len(rows) == model.objects.count() > 0
    count = model.objects.count()
    response = _import(admin_client, catalog, rows)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert model.objects.count() == count  # every row matched its record: nothing created


def test_the_export_is_the_changelist_as_filtered(admin_client):
    rows = _export(admin_client, "models_catalog/modelarchitecture", "?generation_mode__exact=block_diffusion")
    expected = ModelArchitecture.objects.filter(generation_mode="block_diffusion").count()
    assert len(rows) == expected > 0
    assert {row["generation_mode"] for row in rows} == {"block_diffusion"}


def test_a_formula_in_a_text_cell_is_exported_as_text_and_imported_back(admin_client):
    Runtime.objects.create(name="=HYPERLINK(\"http://x\",\"y\")", slug="evil", source="@SUM(A1)")
    rows = {row["slug"]: row for row in _export(admin_client, "models_catalog/runtime")}
    assert rows["evil"]["name"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert rows["evil"]["source"] == "'@SUM(A1)"
    response = _import(admin_client, "models_catalog/runtime", [rows["evil"]])
    assert response.status_code == 302
    assert Runtime.objects.get(slug="evil").name == "=HYPERLINK(\"http://x\",\"y\")"


def test_one_bad_row_among_good_ones_imports_nothing_and_names_it(admin_client):
    good = {"name": "Card A", "slug": "card-a", "vendor": "Acme", "kind": "gpu", "memory_gb": "16",
            "memory_bandwidth_gbs": "500", "source": "acme.example spec sheet"}
    rows = [good, {**good, "name": "Card B", "slug": "card-b", "memory_gb": "-5"},
            {**good, "name": "Card C", "slug": "card-c", "kind": "quantum"}]
    count = Device.objects.count()
    response = _import(admin_client, "devices/device", rows)
    assert response.status_code == 400
    assert Device.objects.count() == count
    assert not Device.objects.filter(slug="card-a").exists()
    errors = {(e.row, e.field) for e in response.context["result"].errors}
    # The header is row 1: Card B is row 3, Card C row 4.
    assert errors == {(3, "memory_gb"), (4, "kind")}
    page = response.content.decode()
    assert "nothing was imported" in page and "Memory (GB) must be greater than 0" in page


def test_a_good_file_creates_and_updates_in_one_go(admin_client):
    good = {"name": "Card A", "slug": "card-a", "vendor": "Acme", "kind": "gpu", "memory_gb": "16",
            "source": "acme.example spec sheet", "notes": ""}
    update = {"name": "NVIDIA GeForce RTX 4090", "slug": "nvidia-geforce-rtx-4090", "vendor": "NVIDIA", "kind": "gpu",
              "memory_gb": "24", "source": "nvidia.com spec sheet", "notes": "checked again"}
    response = _import(admin_client, "devices/device", [good, update])
    assert response.status_code == 302
    assert Device.objects.get(slug="card-a").memory_gb == 16
    assert Device.objects.get(slug="nvidia-geforce-rtx-4090").notes == "checked again"


def test_a_published_price_is_not_edited_in_place(admin_client):
    rows = _export(admin_client, "devices/cloudoffer")
    changed = {**rows[0], "usd_per_hour": str(float(rows[0]["usd_per_hour"]) + 1)}
    response = _import(admin_client, "devices/cloudoffer", [changed])
    assert response.status_code == 400
    assert [(e.row, e.field) for e in response.context["result"].errors] == [(2, "usd_per_hour")]


def test_unknown_columns_duplicates_and_oversized_files_are_refused(admin_client, settings):
    response = _import(admin_client, "models_catalog/runtime", [{"slug": "x", "colour": "red"}])
    assert [(e.row, e.field) for e in response.context["result"].errors] == [(1, "colour")]
    row = {"name": "R", "slug": "r", "source": "s"}
    response = _import(admin_client, "models_catalog/runtime", [row, {**row, "name": "R2"}])
    assert [(e.row, e.reason) for e in response.context["result"].errors] == [(3, "Row 2 already names this record.")]
    settings.HWFIT_CSV_MAX_BYTES = 10
    response = _import(admin_client, "models_catalog/runtime", [row])
    assert "the limit is 10 bytes" in response.content.decode()
    assert not Runtime.objects.filter(slug="r").exists()


def test_a_plain_user_cannot_export_or_import(client, plain_user):
    client.force_login(plain_user)
    assert client.get("/admin/devices/device/export-csv/").status_code == 302  # to the admin login
