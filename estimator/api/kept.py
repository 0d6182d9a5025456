"""Anonymous GET answers of the estimate and compatibility endpoints, kept as bytes until the catalog changes.

An estimate or a table page is a pure function of its URL, the format asked and the catalog (its
version: `estimator.services.catalog_cache.catalog_version`, changed by any catalog row,
calibration fit or measured run). The estimates and tables behind them are already kept, but
validating the query, resolving the records, formatting the rows and encoding ~3 KB (an
estimate) to ~160 KB (a table page) of JSON or CSV is most of what such a request costs. So the
rendered bytes are kept in this process's memory, keyed on the catalog version, the absolute URL
and the format, and served again to the next anonymous GET of the same URL.

Only after DRF's checks: the view's handler runs after authentication, permissions and the
throttle, so a kept answer is still counted and refused like any other. Only anonymous requests
(a signed-in user is never served someone else's answer, nor fills the store), only JSON and CSV
(the browsable API's HTML holds the user and a CSRF token), only plain 200 answers. Memory is
bounded in bytes; answers of an older catalog version are dropped when a new one is first seen.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request

from estimator.services import catalog_cache
from estimator.services.catalog_cache import catalog_version

# Bytes of answers one process keeps (a table page is ~160 KB, an estimate ~3 KB).
MEMORY_BYTES = 48 * 1024 * 1024
KEPT_FORMATS = frozenset({"json", "csv"})
# Headers of the answer that are part of it; the rest (timing, CSP, Vary) are set per request.
KEPT_HEADERS = ("Content-Type", "Content-Disposition")

_lock = threading.Lock()
_answers: OrderedDict[tuple[str, str, str], tuple[bytes, dict[str, str]]] = OrderedDict()
_state = {"version": None, "bytes": 0}


def forget() -> None:
    """Drop every kept answer (tests start as a new process would)."""
    with _lock:
        _answers.clear()
        _state.update(version=None, bytes=0)


# A process that forgets its catalog (a test's "new process") forgets these answers with it.
catalog_cache.forget_also.append(forget)


def _key(request: Request) -> tuple[str, str, str] | None:
    if request.method != "GET" or request.user.is_authenticated:
        return None
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is None or renderer.format not in KEPT_FORMATS:
        return None
    # The absolute URL: a table page links its neighbours with the scheme and host it was asked on.
    return (catalog_version(), request.build_absolute_uri(), request.accepted_media_type)


def _lookup(key: tuple[str, str, str]) -> tuple[bytes, dict[str, str]] | None:
    with _lock:
        entry = _answers.get(key)
        if entry is not None:
            _answers.move_to_end(key)
        return entry


def _keep(key: tuple[str, str, str], response: Any) -> None:
    if response.status_code != 200 or response.streaming or response.cookies:
        return
    body = bytes(response.content)
    headers = {name: response[name] for name in KEPT_HEADERS if name in response}
    with _lock:
        if _state["version"] != key[0]:
            # A new catalog version: every answer kept so far is of an older one.
            _answers.clear()
            _state.update(version=key[0], bytes=0)
        old = _answers.pop(key, None)
        if old is not None:
            _state["bytes"] -= len(old[0])
        _answers[key] = (body, headers)
        _state["bytes"] += len(body)
        while _state["bytes"] > MEMORY_BYTES and _answers:
            _, (dropped, _headers) = _answers.popitem(last=False)
            _state["bytes"] -= len(dropped)


def kept_answer(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates an APIView's `get`: serve the kept bytes, or keep what the handler renders."""

    @functools.wraps(handler)
    def get(view, request: Request, *args: Any, **kwargs: Any) -> Any:
        key = _key(request)
        if key is None:
            return handler(view, request, *args, **kwargs)
        entry = _lookup(key)
        if entry is not None:
            body, headers = entry
            response = HttpResponse(body)
            for name, value in headers.items():
                response[name] = value
            return response
        response = handler(view, request, *args, **kwargs)
        if hasattr(response, "add_post_render_callback"):
            # DRF renders the answer after the view returns: keep it once its bytes exist.
            response.add_post_render_callback(functools.partial(_keep, key))
        return response

    return get
