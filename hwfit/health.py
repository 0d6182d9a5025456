"""Liveness and readiness for a load balancer or an orchestrator.

`/healthz/` says the process answers (it touches nothing else); `/readyz/` says whether it can
serve: the database must answer (else 503), while a cache, broker or worker outage only degrades
the service (200, "degraded"): throttling and caching fall back to local memory, and calibration
runs wait in the queue.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

import hwfit
from hwfit.cache import ResilientRedisCache

# Seconds to wait for a broker or a worker to answer: readiness probes run every few seconds.
PROBE_TIMEOUT_S = 0.5


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "version": hwfit.__version__})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "cache": _cache(), "broker": _broker()}
    # Without a broker tasks run in the web process itself: no worker is missing.
    checks["workers"] = {"ok": _workers, "eager": lambda: "in-process"}.get(checks["broker"], lambda: "unknown")()
    if checks["database"] != "ok":
        status = "unavailable"
    elif any(value in ("down", "none", "unknown") for value in checks.values()):
        status = "degraded"
    else:
        status = "ok"
    return JsonResponse({"status": status, "version": hwfit.__version__, "checks": checks},
                        status=503 if status == "unavailable" else 200)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except (OperationalError, InterfaceError):
        return "down"
    return "ok"


def _cache() -> str:
    """ok (Redis answers), down (Redis configured but unreachable: local memory), local (no Redis)."""
    backend = caches["default"]
    if not isinstance(backend, ResilientRedisCache):
        return "local"
    return "ok" if backend.ping() else "down"


def _broker() -> str:
    """ok, down, or eager (no broker: tasks run in the web process)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    try:
        with hwfit.celery_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=0, timeout=PROBE_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - kombu raises transport-specific errors
        return "down"
    return "ok"


def _workers() -> Any:
    """How many Celery workers answered a ping, or "none"."""
    try:
        replies = hwfit.celery_app.control.ping(timeout=PROBE_TIMEOUT_S)
    except Exception:  # noqa: BLE001
        return "unknown"
    return len(replies) or "none"
