"""The OpenAPI schema, the interactive docs, the throttle, and schemathesis against the live schema."""

import re

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from hwfit.tests.api_fixtures import api, api_staff_user, unthrottled  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_schema_renders_as_openapi_3(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for path in ("/api/v1/models/", "/api/v1/models/{slug}/", "/api/v1/models/{slug}/compatibility/",
                 "/api/v1/quantizations/{slug}/", "/api/v1/devices/{slug}/compatibility/", "/api/v1/runtimes/{slug}/",
                 "/api/v1/cloud-offers/{id}/", "/api/v1/api-prices/{id}/", "/api/v1/estimate/"):
        assert path in paths


def test_the_schema_documents_the_error_contract(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    create = schema["paths"]["/api/v1/devices/"]["post"]["responses"]
    assert {"201", "400", "401", "403", "429"} <= set(create)
    assert {"200", "400", "429"} <= set(schema["paths"]["/api/v1/estimate/"]["post"]["responses"])


def test_the_docs_page_serves_its_assets_locally(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    # Every script and stylesheet comes from this site, none from a CDN, and the files are there.
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith("/"), url
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_the_api_root_lists_the_catalogs(api):
    body = api.get("/api/v1/").json()
    assert set(body) == {"models", "quantizations", "devices", "runtimes", "cloud-offers", "api-prices", "estimate",
                         "calibrations", "fits", "workers", "measured-runs", "accuracy"}
    assert body["estimate"] == "http://testserver/api/v1/estimate/"


def test_anonymous_clients_are_throttled(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "3/minute"}}
    cache.clear()
    statuses = [client.get("/api/v1/runtimes/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/runtimes/")
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert "throttled" in response.json()["detail"]
    cache.clear()


def test_staff_are_not_throttled(client, settings, api_staff_user):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1/minute"}}
    cache.clear()
    client.force_login(api_staff_user)
    assert [client.get("/api/v1/runtimes/").status_code for _ in range(3)] == [200, 200, 200]
    cache.clear()


# --- Schemathesis ------------------------------------------------------------------------------------
#
# Every operation of the live schema, driven in-process through the WSGI app: generated inputs
# (valid and invalid) must never produce a server error, and every response must match the schema
# (status code, content type, body). Bounded: a few examples per operation and a deadline per
# example, so the whole run takes well under a minute.

# The coverage phase (every boundary value the schema defines: ~1,600 cases for the estimate body
# alone) runs on the catalog reads and the estimate's GET form; the compatibility tables (a whole
# matrix per case) and the writes get the examples and fuzzing phases, writes both as anonymous
# clients (401) and as staff (validated like admin edits).
CONFIG = SchemathesisConfig.from_dict({
    "phases": {"coverage": {"enabled": False}},
    "operations": [{"include-method": "GET", "exclude-path-regex": "compatibility",
                    "phases": {"coverage": {"enabled": True}}}],
})
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)
staff_writes = (
    schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(),
                                   config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}}))
    .include(method=["POST", "PUT", "PATCH", "DELETE"])
    .exclude(path="/api/v1/estimate/")  # not a write: the anonymous run covers it
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDS = hypothesis_settings(
    max_examples=8, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)


@pytest.fixture
def in_test_transaction(unthrottled):
    """Keep the test's connection across requests made straight to the WSGI app.

    Django closes a connection whose autocommit differs from the settings at the start and end of
    every request; inside a test's transaction that is always so. Django's test client stops this
    for its requests; schemathesis calls the WSGI app itself, so do what the test client does.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(in_test_transaction, api_staff_user) -> str:
    return Token.objects.create(user=api_staff_user).key


@schema.parametrize()
@BOUNDS
def test_the_api_matches_its_schema_for_anonymous_clients(case, in_test_transaction):
    case.call_and_validate(checks=CHECKS)


@staff_writes.parametrize()
@BOUNDS
def test_the_api_matches_its_schema_for_staff_writes(case, staff_token):
    case.call_and_validate(checks=CHECKS, headers={"Authorization": f"Token {staff_token}"})
