"""What the test suites share about where they run: under CI nothing may quietly skip.

Locally a missing optional dependency (torch, for the engine) or data snapshot skips the tests
that need it, with the reason. Under CI (`CI=true`, as `.ci/run` and hosted runners set it) the
same absence is a failure: a green CI run means every test ran.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest


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
