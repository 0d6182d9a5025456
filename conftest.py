"""Suite-wide fixtures: the seeded catalog is loaded once into the test database."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from hwfit.testing import ci_service_problems, on_ci

# The `browser` fixture: headless Chromium on a live server (hwfit/tests/browser.py).
pytest_plugins = ["hwfit.tests.browser"]

CATALOG_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "catalog.json"


def pytest_sessionstart(session):
    # Under CI the suite runs on the real services or not at all (SQLite or eager tasks would pass quietly).
    problems = ci_service_problems(connection.vendor, settings.CELERY_BROKER_URL) if on_ci() else []
    if problems:
        raise pytest.UsageError("CI=true but " + "; ".join(problems))


def pytest_collection_modifyitems(config, items):
    # Away from CI a contributor may have neither service: what needs one is skipped with the
    # variable to set (under CI, pytest_sessionstart has already refused to run without them).
    if on_ci():
        return
    missing = {"postgres": connection.vendor != "postgresql", "worker": not settings.CELERY_BROKER_URL}
    reasons = {"postgres": "needs PostgreSQL: set DATABASE_URL (make test uses a local one when it answers)",
               "worker": "needs Redis as the broker: set CELERY_BROKER_URL (make test uses a local one)"}
    for item in items:
        for marker, absent in missing.items():
            if absent and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reasons[marker]))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # Every database test sees the catalog a fresh `make run` serves; each test's changes roll back.
    with django_db_blocker.unblock():
        call_command("loaddata", str(CATALOG_FIXTURE), verbosity=0)


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("staff", password="pw-staff-1234", is_staff=True, is_superuser=True)


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user("plain", password="pw-plain-1234")


@pytest.fixture(autouse=True)
def fresh_estimator_memory():
    # Each test starts as a new process would, on an empty cache: no catalog, tables or estimates
    # kept. A test's rolled-back edits never reach the cache's version token (it is replaced on
    # commit), so what a test computed must not outlive it.
    from django.core.cache import caches

    from estimator.services import catalog_cache
    from hwfit import page_cache

    catalog_cache.forget()
    page_cache.forget()
    caches["default"].clear()
