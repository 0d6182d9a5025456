"""gunicorn settings for `make serve`, from the environment.

WEB_CONCURRENCY worker processes (default: 2 per core, at least 2) each hold their own prepared
catalog in memory; BIND is the address (default 127.0.0.1:8000). The app is loaded once in the
master (`preload_app`) so workers fork with pandas, numpy and Django already imported.
"""

import gc
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, 2 * multiprocessing.cpu_count())))
# Threads per worker (gthread workers): a request spends part of its time waiting on PostgreSQL
# and Redis, and gthread keeps connections alive where sync workers close each one. Measured with
# bench/load.py (32 connections, 2 cores): 4 threads served ~1.3x the requests/s of sync workers;
# of 4x4, 3x4, 6x4, 4x8, 2x2, 2x8, 4x1 and 8x1 processes x threads, 4x4 served the most
# (~700-1,000 requests/s; one thread per process: a quarter of that).
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
# A worker is recycled after this many requests (with jitter, so they do not all restart at once).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 5000))
max_requests_jitter = max_requests // 10
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Behind a reverse proxy that sets X-Forwarded-Proto; the app trusts it only in production mode.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def when_ready(server) -> None:
    """Load the catalog once in the master, so that every worker forks with it already in memory.

    Each worker still checks the catalog's version on every request. The master's database
    connection is closed before any fork: a connection must never be shared between processes.
    """
    from django.db import connections

    from estimator.services.catalog_cache import catalog_current

    try:
        catalog_current()
    except Exception as exc:  # noqa: BLE001 - a database not up yet: each worker loads it later
        server.log.warning("catalog not preloaded: %s", exc)
    finally:
        connections.close_all()
    # Everything loaded so far (Django, pandas, the catalog) lives as long as the process: move it
    # out of the garbage collector's generations, so a full collection in a worker does not walk
    # ~170k long-lived objects (~5 ms, landing on whichever request triggered it) and forked
    # workers keep sharing those pages instead of copying them when the collector touches them.
    gc.freeze()
    # A young-generation collection every 700 allocations lands several times inside each computed
    # estimate, each one walking the request's live objects (its serializers, records, response):
    # ~10% of an estimate's time, measured. Requests free what they allocate by reference counting,
    # so collecting after 50,000 lets the cycles they leave (a few hundred objects each) wait a
    # little longer instead (a few MB at most), and the older generations as Python sets them.
    gc.set_threshold(50_000, 10, 10)
