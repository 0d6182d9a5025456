"""Work a request's answer need not wait for: storing what it computed in the shared cache.

A request that computed a compatibility table, a CSV or a few estimates stores them in Redis so
the other server processes need not compute them again. The client gains nothing from waiting
for that write (~0.5 ms for an estimate, a few ms for a 1-2 MB table), so `defer` holds it until
Django closes the response, which servers do once the body is sent (`request_finished`: after
the last byte under gunicorn and runserver alike).

Work is deferred only while `DeferredWorkMiddleware` handles a request, whatever the request
raises; anywhere else (a management command, a Celery task, a test calling a service directly)
it runs at once. A deferred call that fails is logged and dropped: like the writes themselves
(`hwfit/cache.py`), it may only cost computing something again elsewhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

_local = threading.local()


def defer(work: Callable[..., Any], *args: Any) -> None:
    """Run `work(*args)` once this thread's response is closed, or now outside a request."""
    queue = getattr(_local, "queue", None)
    if queue is None:
        work(*args)
    else:
        queue.append((work, args))


def _run_pending(**_: Any) -> None:
    pending, _local.pending = getattr(_local, "pending", None), None
    for work, args in pending or ():
        try:
            work(*args)
        except Exception:  # noqa: BLE001 - the answer is sent; a lost cache write only costs time
            logger.exception("deferred %s failed", getattr(work, "__qualname__", work))


class DeferredWorkMiddleware:
    """Collects the work `defer`red while the request is handled; it runs when the response closes.

    Work left from a request whose response was never closed (a client gone mid-answer) runs
    when this thread's next response closes: late, not lost.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        request_finished.connect(_run_pending, dispatch_uid="hwfit-deferred-work")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        _local.queue = queue = []
        try:
            return self.get_response(request)
        finally:
            # The response is rendered by now: nothing more is deferred for this request.
            _local.queue = None
            if queue:
                _local.pending = [*(getattr(_local, "pending", None) or ()), *queue]
