"""Kept answers: anonymous GETs served again as bytes, batches spliced from each result's kept JSON."""

import json
from unittest import mock

import pytest
from django.db import connection

from estimator import services
from estimator.api import serializers
from estimator.services import catalog_cache
from hwfit.api_json import JSONRenderer
from hwfit.tests.api_fixtures import api, api_staff_user, staff_api, unthrottled  # noqa: F401

pytestmark = pytest.mark.django_db

DEVICE = "nvidia-geforce-rtx-4090"
ESTIMATE = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": DEVICE}
TABLE = f"/api/v1/devices/{DEVICE}/compatibility/"


def handled(api, path: str, params: dict) -> tuple[int, bytes]:
    """How many times the view's own work (validating the query) ran, and the answer's bytes."""
    with mock.patch.object(serializers.CompatibilityQuerySerializer, "is_valid",
                           autospec=True, side_effect=serializers.CompatibilityQuerySerializer.is_valid) as valid, \
            mock.patch.object(serializers.EstimateQuerySerializer, "is_valid",
                              autospec=True, side_effect=serializers.EstimateQuerySerializer.is_valid) as valid_estimate:
        response = api.get(path, params)
    assert response.status_code == 200
    return valid.call_count + valid_estimate.call_count, response.content


@pytest.mark.parametrize("path, params", [
    ("/api/v1/estimate/", ESTIMATE),
    (TABLE, {"quantization": "q4-k-m"}),
    (TABLE, {"quantization": "q4-k-m", "format": "csv"}),
])
def test_an_anonymous_get_is_answered_again_from_its_kept_bytes(api, path, params):
    calls, first = handled(api, path, params)
    assert calls == 1
    calls, again = handled(api, path, params)
    assert calls == 0 and again == first


def test_another_page_or_format_is_another_answer(api):
    handled(api, TABLE, {"quantization": "q4-k-m"})
    assert handled(api, TABLE, {"quantization": "q4-k-m", "page": 2})[0] == 1
    assert handled(api, TABLE, {"quantization": "q4-k-m", "format": "csv"})[0] == 1


def test_a_page_asked_on_another_host_links_its_neighbours_on_that_host(api):
    first = api.get(TABLE, {"quantization": "q4-k-m"}).json()["next"]
    other = api.get(TABLE, {"quantization": "q4-k-m"}, HTTP_HOST="localhost").json()["next"]
    assert first.startswith("http://testserver/") and other.startswith("http://localhost/")


def test_a_kept_answer_is_still_throttled(api, settings):
    api.get("/api/v1/estimate/", ESTIMATE)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1/minute"}}
    assert [api.get("/api/v1/estimate/", ESTIMATE).status_code for _ in range(2)] == [200, 429]


def test_a_signed_in_user_is_answered_by_the_view(staff_api, api):
    api.get("/api/v1/estimate/", ESTIMATE)
    assert handled(staff_api, "/api/v1/estimate/", ESTIMATE)[0] == 1
    assert handled(staff_api, "/api/v1/estimate/", ESTIMATE)[0] == 1


def test_an_edit_changes_the_kept_answer(api, staff_api):
    before = api.get("/api/v1/estimate/", ESTIMATE).json()["working"]["bandwidth_bytes_per_s"]
    assert staff_api.patch(f"/api/v1/devices/{DEVICE}/", {"memory_bandwidth_gbs": 2016}, format="json").status_code == 200
    after = api.get("/api/v1/estimate/", ESTIMATE).json()["working"]["bandwidth_bytes_per_s"]
    assert (before, after) == (1008e9, 2016e9)


def test_a_spliced_batch_is_the_json_the_renderer_writes(api):
    scenarios = [{**ESTIMATE, "context_tokens": 4096}, {**ESTIMATE, "context_tokens": 8192}]
    api.post("/api/v1/estimate/", scenarios[0], format="json")  # one result already kept
    body = api.post("/api/v1/estimate/", {"scenarios": scenarios}, format="json").content
    expected = services.estimate_scenarios(scenarios=[dict(s) for s in scenarios])
    assert json.loads(body) == {"count": 2, "results": expected}
    assert body == JSONRenderer().render({"count": 2, "results": expected})
    # Asked with indentation, the renderer writes the whole answer itself.
    indented = api.post("/api/v1/estimate/", {"scenarios": scenarios}, format="json",
                        HTTP_ACCEPT="application/json; indent=2").content
    assert json.loads(indented) == json.loads(body) and b"\n" in indented


def test_the_version_is_read_once_per_interval_in_production(api, settings):
    settings.HWFIT_CATALOG_CHECK_S = 60
    names = lambda: {row["device"]["name"] for row in api.get(TABLE, {"quantization": "q4-k-m"}).json()["results"]}  # noqa: E731
    before = names()
    # Another process's write (no signal here): seen once the interval has passed, not before.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE devices_device SET name = %s, updated_at = CURRENT_TIMESTAMP WHERE slug = %s",
                       ["Renamed elsewhere", DEVICE])
    assert names() == before
    with mock.patch.object(catalog_cache.time, "monotonic", return_value=catalog_cache.time.monotonic() + 61):
        assert names() == {"Renamed elsewhere"}


def test_a_change_saved_by_this_process_is_seen_at_once_in_production(api, staff_api, settings):
    settings.HWFIT_CATALOG_CHECK_S = 60
    api.get("/api/v1/estimate/", ESTIMATE)
    assert staff_api.patch(f"/api/v1/devices/{DEVICE}/", {"memory_bandwidth_gbs": 2016}, format="json").status_code == 200
    assert api.get("/api/v1/estimate/", ESTIMATE).json()["working"]["bandwidth_bytes_per_s"] == 2016e9


def test_a_named_scenario_is_validated_once_and_a_bad_one_every_time(api):
    serializers._kept_scenarios.clear()
    good = {**ESTIMATE, "context_tokens": 4096}
    bad = {**ESTIMATE, "context_tokens": 0}
    with mock.patch.object(serializers.WorkloadSerializer, "validate", autospec=True,
                           side_effect=serializers.WorkloadSerializer.validate) as validate:
        for _ in range(2):
            response = api.post("/api/v1/estimate/", {"scenarios": [good, bad]}, format="json")
            assert response.status_code == 400 and list(response.json()["scenarios"]) == ["1"]
        assert api.post("/api/v1/estimate/", {"scenarios": [good, good]}, format="json").status_code == 200
    assert validate.call_count == 1  # the good one, once; the bad one fails before `validate`
    inline = {**good, "device": {"name": "My card", "kind": "gpu", "memory_gb": 48, "memory_bandwidth_gbs": 960,
                                 "fp16_tflops": 150, "tdp_w": 300}}
    with mock.patch.object(serializers.WorkloadSerializer, "validate", autospec=True,
                           side_effect=serializers.WorkloadSerializer.validate) as validate:
        for _ in range(2):
            assert api.post("/api/v1/estimate/", inline, format="json").status_code == 200
    assert validate.call_count == 2
