"""A real PostgreSQL outage under a real gunicorn: 503s while it lasts, service again after, no restart.

The server runs on the suite's test database (whose catalog the session loaded and committed).
The outage is made on that database only: new connections are refused (`ALLOW_CONNECTIONS
false`) and the server's open ones terminated; both are undone whatever the test's outcome.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from django.db import connection
from django.test import override_settings

from hwfit.tests.live_server import APPLICATION_NAME, database_url, server  # noqa: F401
from hwfit.tests.test_throttling import DOWN_URL, REDIS_URL, redis_cache

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

@contextmanager
def database_down(settings_dict: dict) -> Iterator[None]:
    """Refuse new connections to the test database and drop the server's open ones."""
    name = settings_dict["NAME"]
    assert name.startswith("test_"), name  # never anything but the suite's own database
    with psycopg.connect(database_url(settings_dict, "postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND application_name = %s", [name, APPLICATION_NAME])
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


ESTIMATE = "/api/v1/estimate/?model=llama-3-1-8b&quantization=q4-k-m&device=apple-m2-max"


def test_a_database_outage_is_a_503_everywhere_and_service_resumes_without_a_restart(server):
    http = httpx.Client(base_url=server, timeout=30)
    assert http.get("/api/v1/runtimes/").status_code == 200
    assert http.get(ESTIMATE).status_code == 200
    assert http.get("/models/").status_code == 200

    with database_down(connection.settings_dict):
        # A process serves the answers it keeps until it reads the catalog's version again, at most
        # HWFIT_CATALOG_CHECK_S later (production: 1 s); past that every data request needs the database.
        time.sleep(1.2)
        # Twice per URL: once on a connection the server had open (now terminated), then on a refused one.
        for path in ("/api/v1/runtimes/", "/api/v1/runtimes/", ESTIMATE, "/api/v1/models/llama-3-1-8b/compatibility/"):
            response = http.get(path)
            assert response.status_code == 503, path
            assert response.headers["Content-Type"] == "application/json"
            assert response.json() == {"detail": "The database is unavailable; try again in a few seconds."}
            assert response.headers["Retry-After"] == "5"
        response = http.post("/api/v1/estimate/", json={"model": "llama-3-1-8b", "quantization": "q4-k-m",
                                                        "device": "apple-m2-max"})
        assert response.status_code == 503
        assert "database is unavailable" in response.json()["detail"]
        for path in ("/", "/models/", "/devices/", "/devices/nvidia-h100-sxm/"):
            response = http.get(path)
            assert response.status_code == 503, path
            assert response.headers["Content-Type"].startswith("text/html")
            assert "cannot reach its database" in response.text
        ready = http.get("/readyz/")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable" and ready.json()["checks"]["database"] == "down"
        assert http.get("/healthz/").status_code == 200

    # Back: the same processes reconnect on the next request.
    for _ in range(4):  # enough requests to reach both workers
        assert http.get("/api/v1/runtimes/").status_code == 200
        assert http.get(ESTIMATE).status_code == 200
        assert http.get("/models/").status_code == 200
    ready = http.get("/readyz/").json()
    assert ready["checks"]["database"] == "ok"
    # Redis answers as cache and broker; no Celery worker runs in this test.
    assert ready["checks"]["cache"] == "ok" and ready["checks"]["broker"] == "ok"
    assert ready["checks"]["workers"] == "none" and ready["status"] == "degraded"


# --- Health in-process -------------------------------------------------------------------------------

def test_liveness_says_ok_with_the_version(client):
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "1.0.0"}


def test_readiness_with_redis_down_is_degraded_but_serving(client):
    with override_settings(CACHES=redis_cache(DOWN_URL)):
        response = client.get("/readyz/")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded"
        assert body["checks"]["database"] == "ok" and body["checks"]["cache"] == "down"
        # The site still answers while Redis is down.
        assert client.get("/api/v1/runtimes/").status_code == 200


def test_readiness_with_redis_up_reports_the_cache_ok(client):
    # With no broker (the embedded default) tasks run in-process ("eager"), so nothing is degraded.
    # Pinned here: CI configures a broker for the worker tests, with no worker running meanwhile.
    with override_settings(CACHES=redis_cache(REDIS_URL), CELERY_TASK_ALWAYS_EAGER=True):
        body = client.get("/readyz/").json()
    assert body == {"status": "ok", "version": "1.0.0",
                    "checks": {"database": "ok", "cache": "ok", "broker": "eager", "workers": "in-process"}}
