"""What the test suites share about where they run: under CI nothing may quietly skip.

Locally a missing optional dependency (torch, for the engine) or data snapshot skips the tests
that need it, with the reason. Under CI (`CI=true`, as `.ci/run` and hosted runners set it) the
same absence is a failure: a green CI run means every test ran.
"""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest
from django.conf import settings


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def import_or_skip(name: str) -> ModuleType:
    """The module; locally a skip when it is not installed, under CI the ImportError itself."""
    if on_ci():
        return importlib.import_module(name)
    return pytest.importorskip(name)


def require_files(*paths: Path) -> None:
    """Skip (locally) or fail (under CI) the calling module when a data file is missing."""
    missing = [str(path) for path in paths if not path.exists()]
    if not missing:
        return
    reason = f"missing data file(s): {', '.join(missing)}"
    if on_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def ci_service_problems(database_vendor: str, broker_url: str | None) -> list[str]:
    """Why a CI run is not on the real services (empty when it is): PostgreSQL, and Redis as the broker."""
    problems = []
    if database_vendor != "postgresql":
        problems.append(f"the test database is {database_vendor}, not PostgreSQL: set DATABASE_URL=postgres://...")
    if not (broker_url or "").startswith("redis://"):
        problems.append(f"CELERY_BROKER_URL is {broker_url!r}, not Redis: worker tests would run eagerly in-process")
    return problems


@functools.cache
def source_counts() -> dict[str, int]:
    """Records per catalog table that the sourced CSVs make (what `import_catalog` writes).

    Tests compare catalog sizes with this, not with numbers copied from the fixture: a data
    refresh changes both the CSVs and the fixture, and a fixture that lags its CSVs is a failure.
    """
    from models_catalog import sources

    data = Path(settings.HWFIT_SHARED_DATA)
    models, devices = sources.load_models(data), sources.load_devices(data)
    return {
        "models": len(models),
        "quantizations": len(sources.load_quants(data)),
        "devices": len(devices),
        "runtimes": len(sources.load_runtimes()),
        "cloud_offers": len(sources.load_cloud_offers(data, set(devices["name"]))),
        "api_prices": len(sources.load_api_prices(data, set(models["name"]))),
    }
