"""API writes need the model permission the admin needs for the same change, per endpoint."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from devices.models import CloudOffer, Device
from hwfit.tests.api_fixtures import api, unthrottled  # noqa: F401
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime

pytestmark = pytest.mark.django_db

# (URL prefix, model, how a record is looked up)
ENDPOINTS = [
    ("/api/v1/models/", ModelArchitecture, "slug"),
    ("/api/v1/quantizations/", QuantizationFormat, "slug"),
    ("/api/v1/devices/", Device, "slug"),
    ("/api/v1/runtimes/", Runtime, "slug"),
    ("/api/v1/cloud-offers/", CloudOffer, "pk"),
    ("/api/v1/api-prices/", ApiPrice, "pk"),
]
IDS = [prefix.split("/")[3] for prefix, _, _ in ENDPOINTS]


@pytest.fixture
def make_client(unthrottled, django_user_model):
    """A token client for a staff user holding exactly the named permissions of one model."""

    def make(model, *actions: str) -> APIClient:
        user = django_user_model.objects.create_user(f"staff-{'-'.join(actions) or 'none'}", is_staff=True)
        codenames = [f"{action}_{model._meta.model_name}" for action in actions]
        user.user_permissions.set(Permission.objects.filter(
            content_type__app_label=model._meta.app_label, codename__in=codenames))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    return make


def detail_url(prefix: str, model, lookup: str) -> tuple[str, object]:
    record = model.objects.order_by("pk").first()
    return f"{prefix}{getattr(record, lookup)}/", record


@pytest.mark.parametrize("prefix, model, lookup", ENDPOINTS, ids=IDS)
def test_staff_without_model_permissions_cannot_write(make_client, prefix, model, lookup):
    client = make_client(model)
    url, record = detail_url(prefix, model, lookup)
    count = model.objects.count()
    assert client.post(prefix, {"name": "new"}, format="json").status_code == 403
    assert client.patch(url, {"notes": "edited"}, format="json").status_code == 403
    assert client.put(url, {"notes": "edited"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403
    assert model.objects.count() == count
    record.refresh_from_db()
    assert record.notes != "edited"
    # Reading needs nothing.
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("prefix, model, lookup", ENDPOINTS, ids=IDS)
def test_the_change_permission_allows_edits_only(make_client, prefix, model, lookup):
    client = make_client(model, "change")
    url, record = detail_url(prefix, model, lookup)
    assert client.patch(url, {"notes": "edited"}, format="json").status_code == 200
    record.refresh_from_db()
    assert record.notes == "edited"
    assert client.post(prefix, {"name": "new"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403


@pytest.mark.parametrize("prefix, model, lookup", ENDPOINTS, ids=IDS)
def test_the_add_permission_allows_creating_only(make_client, prefix, model, lookup):
    client = make_client(model, "add")
    url, _ = detail_url(prefix, model, lookup)
    # Past the permission check: the body is then validated (400), not refused (403).
    assert client.post(prefix, {}, format="json").status_code == 400
    assert client.patch(url, {"notes": "edited"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403


@pytest.mark.parametrize("prefix, model, lookup", ENDPOINTS, ids=IDS)
def test_the_delete_permission_allows_deleting_only(make_client, prefix, model, lookup):
    client = make_client(model, "delete")
    record = model.objects.order_by("pk").first()
    if lookup == "slug":
        # A new record that nothing refers to: catalog rows with a slug have offers, prices, formats.
        record = model.objects.create(**{**_copyable(record), "slug": "permission-test", "name": "permission-test"})
    url = f"{prefix}{getattr(record, lookup)}/"
    assert client.patch(url, {"notes": "edited"}, format="json").status_code == 403
    assert client.delete(url).status_code == 204
    assert not model.objects.filter(pk=record.pk).exists()


def test_a_non_staff_user_with_permissions_is_refused_as_by_the_admin(django_user_model, unthrottled):
    user = django_user_model.objects.create_user("not-staff")
    user.user_permissions.set(Permission.objects.filter(codename="change_runtime"))
    client = APIClient()
    client.force_authenticate(user)
    assert client.patch("/api/v1/runtimes/llama-cpp/", {"notes": "x"}, format="json").status_code == 403


def test_anonymous_writes_are_asked_for_credentials(api):
    response = api.post("/api/v1/runtimes/", {"name": "x"}, format="json")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def _copyable(record) -> dict:
    return {field.attname: getattr(record, field.attname) for field in record._meta.concrete_fields
            if not field.primary_key and field.name not in ("created_at", "updated_at")}

