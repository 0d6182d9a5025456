"""A real gunicorn on the suite's test database, as `make serve` runs it, for tests from outside."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import connection

# A Redis database the suite may write to (keys carry a per-test prefix); CI starts Redis.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

ROOT = Path(__file__).resolve().parents[2]
APPLICATION_NAME = "hwfit-outage-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict, name: str, **query: str) -> str:
    host, port, user = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432, settings_dict["USER"]
    password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
    tail = "&".join(f"{key}={value}" for key, value in query.items())
    return f"postgres://{user}{password}@{host}:{port}/{name}" + (f"?{tail}" if tail else "")


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[str]:
    """gunicorn (2 workers) in production mode on the test database, as `make serve` runs it.

    Static files are collected for WhiteNoise first; Redis is the cache and the broker.
    """
    if connection.vendor != "postgresql":
        # Under CI the session never starts on SQLite; away from it, say what to set.
        pytest.skip("the live server runs on PostgreSQL: set DATABASE_URL (make test uses a local one)")
    with django_db_blocker.unblock():
        settings_dict = connection.settings_dict
    port = free_port()
    folder = tmp_path_factory.mktemp("gunicorn")
    env = {
        **os.environ,
        "HWFIT_ENV": "production", "SECRET_KEY": "live-server-test-key", "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false", "STATIC_ROOT": str(folder / "static"),
        "DATABASE_URL": database_url(settings_dict, settings_dict["NAME"], application_name=APPLICATION_NAME),
        "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2",
        "CACHE_URL": REDIS_URL, "CELERY_BROKER_URL": REDIS_URL, "HWFIT_ANON_THROTTLE": "100000/minute",
    }
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    log = open(folder / "gunicorn.log", "wb")  # a file, not a pipe: a full pipe would stall the server
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "hwfit/gunicorn_conf.py", "hwfit.wsgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base}/healthz/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("gunicorn did not start: " + (folder / "gunicorn.log").read_text()[-4000:])
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
