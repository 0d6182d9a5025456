"""The model and device pages, kept rendered until the catalog changes.

A model page holds every device's figures (a device page every model's): rendering one costs
~100 ms of CPU, and under load those renders are what the server spends its time on. The HTML
depends only on the URL (path and query: the page's controls) and on the catalog, so it is kept
keyed on both: the catalog's version (`estimator.services.catalog_cache.catalog_version`: one
query, changed by any catalog row, calibration fit or measured run) and the full URL. A rendered
page is kept in this process's memory and in the shared cache, so one gunicorn worker's render
serves the others.

The page's inline scripts carry the request's CSP nonce; a kept page stores a placeholder in its
place and gets the new request's nonce when it is served again. Only anonymous GETs are served
from here (a request with a session may show a signed-in user's messages), and only plain 200
answers are kept. The shared cache being down only means rendering again: never an error.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from estimator.services.catalog_cache import catalog_version, version_held
from hwfit import deferred

logger = logging.getLogger(__name__)

CACHED_VIEWS = frozenset({"model-detail", "device-detail"})
# A placeholder of the nonce's length that a page cannot contain otherwise (not URL-safe base64).
NONCE_MARK = b"<<csp-nonce-hwfit>>"
# Pages kept by this process: a model page is ~350 kB, so this holds at most ~70 MB.
MEMORY_PAGES = 200
SHARED_TIMEOUT_S = 3600
# Headers that the middleware around this one sets per request; everything else is kept.
KEPT_HEADERS = ("Content-Type", "Content-Language", "Vary")

_lock = threading.Lock()
_pages: OrderedDict[str, tuple[bytes, dict[str, str]]] = OrderedDict()


def forget() -> None:
    """Drop the pages kept by this process (tests start as a new process would)."""
    with _lock:
        _pages.clear()


def _cacheable_request(request: HttpRequest) -> bool:
    if request.method != "GET" or not getattr(settings, "HWFIT_PAGE_CACHE", True):
        return False
    if settings.SESSION_COOKIE_NAME in request.COOKIES or "messages" in request.COOKIES:
        return False
    match = request.resolver_match
    return match is not None and match.url_name in CACHED_VIEWS


def _key(request: HttpRequest) -> str:
    digest = hashlib.blake2b(request.get_full_path().encode(), digest_size=16).hexdigest()
    return f"hwfit:page:{catalog_version()}:{digest}"


def _remember(key: str, entry: tuple[bytes, dict[str, str]]) -> None:
    with _lock:
        _pages[key] = entry
        _pages.move_to_end(key)
        while len(_pages) > MEMORY_PAGES:
            _pages.popitem(last=False)


def _lookup(key: str) -> tuple[bytes, dict[str, str]] | None:
    with _lock:
        entry = _pages.get(key)
        if entry is not None:
            _pages.move_to_end(key)
            return entry
    try:
        entry = cache.get(key)
    except Exception:  # noqa: BLE001 - the shared cache down: render the page instead
        logger.exception("page cache unreadable")
        return None
    if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], bytes)):
        return None
    _remember(key, entry)
    return entry


def _share(key: str, entry: tuple[bytes, dict[str, str]]) -> None:
    try:
        cache.set(key, entry, SHARED_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - kept in this process only
        logger.exception("page cache unwritable")


class PageCacheMiddleware:
    """Serves a kept model or device page, and keeps each one it renders (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "GET":
            return self._kept(request, self.get_response(request))
        # The page's key and the page itself are at the same version, read once.
        with version_held():
            return self._kept(request, self.get_response(request))

    def _kept(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        key = getattr(request, "_page_cache_key", None)
        if key is None or getattr(request, "_page_cache_hit", False):
            return response
        if response.status_code != 200 or response.streaming or response.cookies or "Cache-Control" in response:
            return response
        nonce = getattr(request, "csp_nonce", "").encode()
        body = response.content.replace(nonce, NONCE_MARK) if nonce else response.content
        headers = {name: response[name] for name in KEPT_HEADERS if name in response}
        _remember(key, (body, headers))
        # For the other processes, once the page is sent (hwfit/deferred.py).
        deferred.defer(_share, key, (body, headers))
        return response

    def process_view(self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any) -> HttpResponse | None:
        if not _cacheable_request(request):
            return None
        request._page_cache_key = key = _key(request)
        entry = _lookup(key)
        if entry is None:
            return None
        body, headers = entry
        nonce = getattr(request, "csp_nonce", "").encode()
        response = HttpResponse(body.replace(NONCE_MARK, nonce) if nonce else body)
        for name, value in headers.items():
            response[name] = value
        request._page_cache_hit = True
        return response
