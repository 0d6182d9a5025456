"""The catalog kept in memory and the cached compatibility tables: reused until the catalog changes."""

from unittest import mock

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import override_settings

from devices.models import Device
from estimator.core import pipeline
from estimator.services import catalog_cache
from hwfit.tests.api_fixtures import api, api_staff_user, staff_api, unthrottled  # noqa: F401
from hwfit.tests.test_pages import admin_form_data
from hwfit.tests.test_throttling import DOWN_URL, redis_cache

pytestmark = pytest.mark.django_db

DEVICE = "nvidia-geforce-rtx-4090"
ESTIMATE = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": DEVICE}
TABLE = f"/api/v1/devices/{DEVICE}/compatibility/"


def device_names(api) -> set[str]:
    return {row["device"]["name"] for row in api.get(TABLE, {"quantization": "q4-k-m"}).json()["results"]}


def core_calls(api, path: str, params: dict) -> int:
    with mock.patch.object(pipeline, "estimate_columns", wraps=pipeline.estimate_columns) as core:
        assert api.get(path, params).status_code == 200
    return core.call_count


def test_a_table_is_computed_once_and_reused_by_this_and_other_processes(api):
    params = {"quantization": "q4-k-m", "context_tokens": 4096}
    assert core_calls(api, TABLE, params) == 1
    assert core_calls(api, TABLE, {**params, "page": 2}) == 0  # same table, another page
    catalog_cache.forget()  # another process: nothing in its memory, the table in the shared cache
    assert core_calls(api, TABLE, params) == 0
    assert core_calls(api, TABLE, {**params, "context_tokens": 8192}) == 1  # another workload


def test_a_large_table_is_shared_once_complete(api):
    params = {"context_tokens": 4096}  # every quantization: thousands of rows, a page computes its own
    assert core_calls(api, TABLE, params) == 1
    catalog_cache.forget()  # another process: the page's rows were not shared
    assert core_calls(api, TABLE, params) == 1
    assert core_calls(api, TABLE, {**params, "format": "csv"}) == 1  # every row, stored once the CSV is sent
    catalog_cache.forget()
    assert core_calls(api, TABLE, {**params, "page": 7}) == 0
    assert core_calls(api, TABLE, {**params, "format": "csv"}) == 0


def test_an_api_edit_is_seen_by_the_next_estimate(api, staff_api):
    before = api.get("/api/v1/estimate/", ESTIMATE).json()["working"]["bandwidth_bytes_per_s"]
    assert before == 1008e9  # the RTX 4090's published 1,008 GB/s
    assert staff_api.patch(f"/api/v1/devices/{DEVICE}/", {"memory_bandwidth_gbs": 2016}, format="json").status_code == 200
    after = api.get("/api/v1/estimate/", ESTIMATE).json()["working"]["bandwidth_bytes_per_s"]
    assert after == 2016e9


def test_an_admin_edit_invalidates_the_compatibility_table(api, client, staff_user):
    assert "GeForce RTX 4090" in {name.replace("NVIDIA ", "") for name in device_names(api)}
    client.force_login(staff_user)
    device = Device.objects.get(slug=DEVICE)
    url = f"/admin/devices/device/{device.pk}/change/"
    data = {**admin_form_data(client, url), "name": "RTX 4090 (renamed)", "derived_fields": "[]"}
    response = client.post(url, {name: value for name, value in data.items() if value is not False})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert device_names(api) == {"RTX 4090 (renamed)"}


@pytest.mark.postgres
def test_a_change_written_by_another_process_is_seen(api):
    device_names(api)
    # No signal in this process: only the database says the row changed (its updated_at).
    with connection.cursor() as cursor:
        cursor.execute("UPDATE devices_device SET name = %s, updated_at = NOW() WHERE slug = %s",
                       ["Renamed elsewhere", DEVICE])
    assert device_names(api) == {"Renamed elsewhere"}


def test_a_change_the_database_fingerprint_misses_is_seen_through_the_token(api, django_capture_on_commit_callbacks):
    device_names(api)
    device = Device.objects.get(slug=DEVICE)
    device.name = "Renamed quietly"
    with django_capture_on_commit_callbacks() as callbacks:
        device.save(update_fields=["name"])  # updated_at not written: the fingerprint is unchanged
    assert device_names(api) != {"Renamed quietly"}  # not committed yet: the token is still the old one
    for callback in callbacks:
        callback()  # the commit replaces the token in the shared cache
    assert device_names(api) == {"Renamed quietly"}


def test_a_cache_outage_means_computing_never_an_error(api):
    expected = api.get(TABLE, {"quantization": "q8-0"}).json()
    with override_settings(CACHES=redis_cache(DOWN_URL)):
        catalog_cache.forget()
        assert api.get(TABLE, {"quantization": "q8-0"}).json() == expected
        assert caches["default"].degraded
    catalog_cache.forget()
    with mock.patch.object(catalog_cache.cache, "get", side_effect=RuntimeError("cache answers garbage")):
        assert api.get(TABLE, {"quantization": "q8-0"}).json() == expected
        assert api.get("/api/v1/estimate/", ESTIMATE).status_code == 200


def test_a_batch_computes_only_the_scenarios_not_seen_at_this_version(api):
    seen = {**ESTIMATE, "context_tokens": 4096}
    api.post("/api/v1/estimate/", seen, format="json")
    new = {**ESTIMATE, "context_tokens": 8192}
    with mock.patch.object(pipeline, "estimate_columns", wraps=pipeline.estimate_columns) as core:
        body = api.post("/api/v1/estimate/", {"scenarios": [seen, new, seen]}, format="json").json()
    assert core.call_count == 1 and len(core.call_args.args[0]) == 1
    assert [row["workload"]["context_tokens"] for row in body["results"]] == [4096, 8192, 4096]


def test_a_batch_names_bad_scenarios_by_their_place_in_the_request(api):
    api.post("/api/v1/estimate/", ESTIMATE, format="json")
    response = api.post("/api/v1/estimate/", {"scenarios": [ESTIMATE, {**ESTIMATE, "device": "no-such-gpu"}]},
                        format="json")
    assert response.status_code == 400
    assert list(response.json()["scenarios"]) == ["1"]


def test_a_result_changed_by_its_caller_does_not_change_the_next_answer(api):
    from estimator import services

    first = services.estimate_one(scenario=dict(ESTIMATE))
    first["memory"]["total_bytes"] = -1
    assert services.estimate_one(scenario=dict(ESTIMATE))["memory"]["total_bytes"] > 0
