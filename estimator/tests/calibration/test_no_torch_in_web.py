"""The web process never imports torch: only worker task code (in the pool's child) and the engine do."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings

SCRIPT = """
import sys, django
django.setup()
import hwfit.urls, hwfit.celery, estimator.tasks, estimator.admin, estimator.api.calibration
from estimator.engine.sweep import default_sweep, validate_grid
validate_grid(default_sweep("gpu"))
from django.urls import reverse
assert reverse("api:calibration-list")
print("torch" in sys.modules)
"""


def test_importing_the_web_app_and_validating_a_grid_does_not_import_torch():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=settings.BASE_DIR,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
