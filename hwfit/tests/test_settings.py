"""Settings come from the environment; production refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS", "HWFIT_ENV")}
    environment.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_it_refuses_production_without_a_secret_key():
    result = run_manage("check", HWFIT_ENV="production", ALLOWED_HOSTS="hwfit.example")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when HWFIT_ENV=production" in result.stderr


def test_it_refuses_production_without_allowed_hosts():
    result = run_manage("check", HWFIT_ENV="production", SECRET_KEY="x" * 60)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set when HWFIT_ENV=production" in result.stderr


def test_it_passes_the_deploy_check_in_production_mode():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", HWFIT_ENV="production",
                        SECRET_KEY="k" * 30 + "Q7!zr#" * 6, ALLOWED_HOSTS="hwfit.example")
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_rejects_a_malformed_boolean_loudly():
    result = run_manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_it_runs_tasks_in_process_without_a_broker(settings):
    assert settings.CELERY_BROKER_URL is None or os.environ.get("CELERY_BROKER_URL")
    if not os.environ.get("CELERY_BROKER_URL"):
        assert settings.CELERY_TASK_ALWAYS_EAGER is True
    # Redis would redeliver a task still running after the visibility timeout.
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > settings.CELERY_TASK_TIME_LIMIT


def test_production_serves_the_collected_static_assets(tmp_path):
    env = dict(HWFIT_ENV="production", SECRET_KEY="k" * 30 + "Q7!zr#" * 6, ALLOWED_HOSTS="testserver",
               STATIC_ROOT=str(tmp_path / "static"), SECURE_SSL_REDIRECT="false")
    collected = run_manage("collectstatic", "--noinput", **env)
    assert collected.returncode == 0, collected.stderr
    probe = ("from django.test import Client; c = Client(); "
             "print(c.get('/static/css/hwfit.css').status_code, "
             "c.get('/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js').status_code)")
    served = run_manage("shell", "-c", probe, **env)
    assert served.stdout.split()[-2:] == ["200", "200"], served.stdout + served.stderr
