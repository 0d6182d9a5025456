"""API test fixtures, shared by the apps' tests through their conftest.py."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture
def unthrottled(settings):
    # The anonymous throttle counts every request of the suite from the same address: off, except
    # in the test that shows it (hwfit/tests/test_api_schema.py).
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": None}}


CATALOG_APPS = ("models_catalog", "devices")


@pytest.fixture
def api_staff_user(django_user_model):
    """A catalog editor: staff with every catalog model's add/change/delete permission, as the admin needs."""
    # No password: clients authenticate by token or forced login, and hashing one costs ~0.5 s.
    user = django_user_model.objects.create_user("api-staff", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=CATALOG_APPS))
    return user


@pytest.fixture
def api_staff_without_permissions(django_user_model):
    """Staff, so the admin lets them in, but given no model permission: the admin shows them nothing."""
    return django_user_model.objects.create_user("api-staff-bare", is_staff=True)


@pytest.fixture
def api_plain_user(django_user_model):
    return django_user_model.objects.create_user("api-plain")


@pytest.fixture
def api(unthrottled) -> APIClient:
    """An anonymous client."""
    return APIClient()


@pytest.fixture
def staff_api(unthrottled, api_staff_user) -> APIClient:
    """A staff client authenticated by token, as scripts are."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=api_staff_user).key}")
    return client


@pytest.fixture
def staff_session_api(unthrottled, api_staff_user) -> APIClient:
    """A staff client logged in with a session, as the browsable API is."""
    client = APIClient()
    client.force_login(api_staff_user)
    return client


@pytest.fixture
def plain_api(unthrottled, api_plain_user) -> APIClient:
    """A logged-in user who is not staff."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=api_plain_user).key}")
    return client
