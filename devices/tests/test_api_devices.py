"""/api/v1/devices and /api/v1/cloud-offers: reads for everyone, writes for staff."""

import pytest

from devices.models import CloudOffer, Device
from hwfit.testing import source_counts
from hwfit.tests.api_fixtures import (  # noqa: F401
    api, api_plain_user, api_staff_user, plain_api, staff_api, staff_session_api, unthrottled,
)

pytestmark = pytest.mark.django_db

NEW_DEVICE = {"name": "Test GPU 24GB", "slug": "test-gpu-24gb", "source": "test", "vendor": "Test", "kind": "gpu",
              "memory_gb": 24, "memory_bandwidth_gbs": 1000, "fp16_tflops": 100, "tdp_w": 300}


def test_it_lists_devices_by_vendor_then_name(api):
    body = api.get("/api/v1/devices/", {"page_size": 500}).json()
    assert body["count"] == source_counts()["devices"]
    keys = [(row["vendor"], row["name"]) for row in body["results"]]
    assert keys == sorted(keys)


def test_it_returns_a_device_by_slug_with_its_usable_memory(api):
    device = Device.objects.filter(kind="apple", memory_gb__isnull=False).first()
    body = api.get(f"/api/v1/devices/{device.slug}/").json()
    assert body["memory_gb"] == device.memory_gb
    assert body["usable_memory_gb"] == pytest.approx(device.memory_gb * device.usable_memory_fraction)


def test_it_answers_404_for_an_unknown_device(api):
    assert api.get("/api/v1/devices/no-such-gpu/").status_code == 404


def test_it_filters_devices_by_vendor_and_kind(api):
    rows = api.get("/api/v1/devices/", {"vendor": "nvidia", "kind": "gpu", "page_size": 500}).json()["results"]
    assert len(rows) == Device.objects.filter(vendor="NVIDIA", kind="gpu").count() > 0
    assert {(row["vendor"], row["kind"]) for row in rows} == {("NVIDIA", "gpu")}


def test_it_filters_devices_by_minimum_memory_and_bandwidth(api):
    rows = api.get("/api/v1/devices/", {"min_memory_gb": 80, "min_bandwidth_gbs": 3000, "page_size": 500}).json()["results"]
    assert rows
    assert all(row["memory_gb"] >= 80 and row["memory_bandwidth_gbs"] >= 3000 for row in rows)
    assert len(rows) == Device.objects.filter(memory_gb__gte=80, memory_bandwidth_gbs__gte=3000).count()


def test_it_searches_devices(api):
    rows = api.get("/api/v1/devices/", {"search": "H100"}).json()["results"]
    assert rows and all("H100" in row["name"] for row in rows)


def test_it_orders_devices_by_bandwidth_with_unknown_last(api):
    rows = api.get("/api/v1/devices/", {"ordering": "memory_bandwidth_gbs", "page_size": 500}).json()["results"]
    values = [row["memory_bandwidth_gbs"] for row in rows]
    known = [value for value in values if value is not None]
    assert known == sorted(known)
    assert values == known + [None] * (len(values) - len(known))


def test_it_names_an_unknown_device_kind(api):
    response = api.get("/api/v1/devices/", {"kind": "abacus"})
    assert response.status_code == 400
    assert list(response.json()) == ["kind"]


def test_it_lists_cloud_offers_cheapest_first_with_device_slugs(api):
    rows = api.get("/api/v1/cloud-offers/", {"page_size": 500}).json()["results"]
    assert len(rows) == source_counts()["cloud_offers"]
    prices = [row["usd_per_hour"] for row in rows]
    assert prices == sorted(prices)
    offer = CloudOffer.objects.filter(device__isnull=False).select_related("device").first()
    row = next(row for row in rows if row["id"] == offer.pk)
    assert row["device"] == offer.device.slug
    assert row["usd_per_gpu_hour"] == pytest.approx(offer.usd_per_hour / offer.gpu_count)


def test_it_filters_cloud_offers_by_device_and_price(api):
    offer = CloudOffer.objects.filter(device__isnull=False).select_related("device").first()
    rows = api.get("/api/v1/cloud-offers/", {"device": offer.device.slug, "max_usd_per_hour": 1000}).json()["results"]
    assert rows and {row["device"] for row in rows} == {offer.device.slug}
    assert api.get(f"/api/v1/cloud-offers/{offer.pk}/").json()["provider"] == offer.provider


@pytest.mark.parametrize("path", ["/api/v1/devices/", "/api/v1/cloud-offers/"])
def test_a_list_page_costs_two_queries(api, django_assert_num_queries, path):
    # One COUNT and one SELECT (offers join their device): no query per row.
    with django_assert_num_queries(2):
        assert api.get(path, {"page_size": 500}).status_code == 200


def test_it_rejects_anonymous_writes(api):
    assert api.post("/api/v1/devices/", NEW_DEVICE, format="json").status_code == 401
    offer = CloudOffer.objects.first()
    assert api.delete(f"/api/v1/cloud-offers/{offer.pk}/").status_code == 401
    assert not Device.objects.filter(slug="test-gpu-24gb").exists()


def test_it_rejects_writes_by_users_who_are_not_staff(plain_api):
    assert plain_api.post("/api/v1/devices/", NEW_DEVICE, format="json").status_code == 403


def test_staff_create_a_device(staff_api):
    response = staff_api.post("/api/v1/devices/", NEW_DEVICE, format="json")
    assert response.status_code == 201, response.json()
    assert Device.objects.get(slug="test-gpu-24gb").usable_memory_fraction == 1.0


def test_staff_edit_a_device_with_a_session(staff_session_api):
    response = staff_session_api.patch("/api/v1/devices/nvidia-geforce-rtx-3060-12gb/", {"tdp_w": 180}, format="json")
    assert response.status_code == 200
    assert Device.objects.get(slug="nvidia-geforce-rtx-3060-12gb").tdp_w == 180


def test_it_names_each_bad_field_of_a_device(staff_api):
    response = staff_api.post("/api/v1/devices/", {**NEW_DEVICE, "memory_bandwidth_gbs": 0, "usable_memory_fraction": 1.5,
                                                   "launch_year": 1970}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "memory_bandwidth_gbs": ["Memory bandwidth (GB/s) must be greater than 0 (leave it empty if unknown)."],
        "usable_memory_fraction": ["The usable memory fraction must be greater than 0 and at most 1."],
        "launch_year": ["The launch year must be 1990 or later."],
    }


def test_it_rejects_an_offer_with_a_price_of_zero(staff_api):
    offer = CloudOffer.objects.first()
    response = staff_api.patch(f"/api/v1/cloud-offers/{offer.pk}/", {"usd_per_hour": 0}, format="json")
    assert response.status_code == 400
    assert response.json() == {"usd_per_hour": ["The hourly price must be greater than 0."]}


def test_staff_create_an_offer_for_a_catalog_device(staff_api):
    response = staff_api.post("/api/v1/cloud-offers/", {
        "provider": "TestCloud", "device_label": "RTX 3060", "device": "nvidia-geforce-rtx-3060-12gb", "gpu_count": 2,
        "usd_per_hour": 0.5, "tier": "spot", "as_of": "2026-11-01", "source": "test"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["as_of_date"] is None  # read-only, as in the admin
    assert CloudOffer.objects.get(provider="TestCloud").device.slug == "nvidia-geforce-rtx-3060-12gb"
