"""GET /api/v1/models/{slug}/compatibility/: one model on every device, JSON pages or one CSV."""

import csv
import io

import pytest

from devices.models import Device
from estimator.services import catalog_cache
from hwfit.tests.api_fixtures import api, unthrottled  # noqa: F401
from models_catalog.models import QuantizationFormat

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/llama-3-1-8b/compatibility/"


def test_it_estimates_the_model_on_every_device_and_quantization(api):
    response = api.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == Device.objects.count() * QuantizationFormat.objects.count()
    assert len(body["results"]) == 50
    assert {row["model"]["slug"] for row in body["results"]} == {"llama-3-1-8b"}
    assert body["next"].endswith("page=2")


def test_it_takes_the_quantizations_and_workload_as_query_parameters(api):
    response = api.get(URL, {"quantization": "q4-k-m,q8-0", "context_tokens": 32768, "batch": 2, "page_size": 500})
    rows = response.json()["results"]
    assert len(rows) == Device.objects.count() * 2
    assert {row["quantization"]["slug"] for row in rows} == {"q4-k-m", "q8-0"}
    assert {(row["workload"]["context_tokens"], row["workload"]["batch"]) for row in rows} == {(32768, 2)}


def test_a_row_is_the_estimate_of_its_scenario(api):
    rows = api.get(URL, {"quantization": "q4-k-m", "page_size": 500}).json()["results"]
    row = next(row for row in rows if row["device"]["slug"] == "nvidia-geforce-rtx-4090")
    single = api.post("/api/v1/estimate/", {"model": "llama-3-1-8b", "quantization": "q4-k-m",
                                            "device": "nvidia-geforce-rtx-4090"}, format="json").json()
    assert row["tokens_per_s"] == pytest.approx(single["tokens_per_s"])
    assert row["memory"] == single["memory"]
    assert row["cost"]["api_usd_per_mtok"] == single["cost"]["api_usd_per_mtok"]


def test_it_downloads_the_whole_table_as_csv(api):
    response = api.get(URL, {"quantization": "q4-k-m", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="hwfit-compatibility-model-llama-3-1-8b.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == Device.objects.count()
    assert {"device.slug", "fits", "verdict", "tokens_per_s", "memory.total_bytes", "cost.rental_usd_per_mtok"} <= set(rows[0])
    assert {row["model.slug"] for row in rows} == {"llama-3-1-8b"}
    # Unknown figures are empty cells, never "nan".
    assert all(value.lower() not in ("nan", "inf", "-inf") for row in rows for value in row.values())
    unknown = next(row for row in rows if row["device.slug"] == "intel-core-ultra-7-155h-arc-igpu")  # memory not stated
    assert (unknown["verdict"], unknown["fits"], unknown["memory.usable_bytes"]) == ("unknown", "", "")


def test_it_answers_404_for_an_unknown_model(api):
    assert api.get("/api/v1/models/no-such-model/compatibility/").status_code == 404


def test_it_names_bad_parameters_in_json_even_when_csv_was_asked_for(api):
    response = api.get(URL, {"quantization": "q4-k-m,q9-z", "batch": 0, "format": "csv"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"batch": ["Ensure this value is greater than or equal to 1."]}
    response = api.get(URL, {"quantization": "q4-k-m,q9-z"})
    assert response.json() == {"quantization": ["Unknown quantization(s): q9-z."]}


def test_it_rejects_a_context_beyond_the_models_window_with_a_field_error(api):
    response = api.get(URL, {"context_tokens": 200_000, "format": "csv"})
    assert (response.status_code, response["Content-Type"]) == (400, "application/json")
    assert list(response.json()) == ["context_tokens"]


def test_it_refuses_the_diffusion_mode_for_an_autoregressive_model(api):
    response = api.get(URL, {"mode": "diffusion"})
    assert response.status_code == 400
    assert list(response.json()) == ["mode"]


def test_a_compatibility_page_costs_a_fixed_number_of_queries(api, django_assert_num_queries):
    # The catalog's version, then (first time only) one query per catalog table: models,
    # quantizations, devices, runtimes, offers, prices, and the calibrations; and the accuracy
    # ledger's measured runs of the page. The model itself is found in the kept catalog.
    catalog_cache.forget()  # as a new process starts
    with django_assert_num_queries(1 + 7 + 1):
        assert api.get(URL).status_code == 200
    # The catalog is kept in memory and the table reused until the catalog changes: the version
    # and the page's ledger rows only.
    with django_assert_num_queries(1 + 1):
        assert api.get(URL, {"page": 2}).status_code == 200
