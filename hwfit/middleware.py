"""Request checks and answers that hold for every page and API call, before or around any view."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.urls import reverse
from django.utils.functional import SimpleLazyObject, empty
from django.utils.html import escape

from hwfit.throttling import LoginThrottle

# Seconds a client is asked to wait before trying again after a 503.
RETRY_AFTER_S = 5

UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hwfit is briefly unavailable</title></head>
<body><h1>Briefly unavailable</h1>
<p>hwfit cannot reach its database right now. Please try again in a few seconds.</p></body></html>
"""


def is_database_outage(exc: BaseException) -> bool:
    """The database refused or dropped the connection: the service's state, not the request's fault.

    OperationalError is what psycopg raises for a refused, terminated or timed-out connection;
    InterfaceError for a connection found closed. Other database errors (integrity, data) are bugs
    or bad input and stay what they are.
    """
    return isinstance(exc, (OperationalError, InterfaceError))


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503: the API's JSON error for API calls, a plain page for the rest, both with Retry-After."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"detail": "The database is unavailable; try again in a few seconds."}, status=503)
    else:
        response = HttpResponse(UNAVAILABLE_PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


class ServerTimingMiddleware:
    """`Server-Timing: app;dur=<ms>`: the time Django spent on the request, for browsers' dev tools,
    monitoring and bench/load.py, which tells server time from time queued or on the wire."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - start) * 1000:.2f}"
        return response


class DatabaseUnavailableMiddleware:
    """A database outage is a 503 on every page and API call, not a 500; the next request reconnects.

    Django closes a connection that raised at the end of the request (`close_old_connections`),
    so once PostgreSQL is back the next request opens a new one: no restart is needed. Errors
    raised outside a view (a session saved after it) reach `hwfit.api_errors.server_error` instead.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_database_outage(exception):
            return unavailable_response(request)
        return None


class RejectNulQueryMiddleware:
    """A NUL byte in a page's query string is a 400, not a 500.

    PostgreSQL refuses NUL in text, so an admin list filter or autocomplete given `%00` failed
    inside the database. The API is left alone: its filters and serializers already name the
    parameter ("Null characters are not allowed.").
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nul = any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())
        if nul and not request.path.startswith("/api/"):
            return HttpResponseBadRequest("The query string contains a NUL character.", content_type="text/plain")
        return self.get_response(request)


class AdminLoginThrottleMiddleware:
    """Admin login attempts are limited per client address, like anonymous API calls.

    Each POST to the login form counts, successful or not, so guessing passwords costs a wait
    (`HWFIT_LOGIN_THROTTLE`); the count lives in the shared cache, so it holds across workers.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path == reverse("admin:login"):
            throttle = LoginThrottle()
            if not throttle.allow_request(request, None):
                wait = max(1, round(throttle.wait() or 1))
                response = HttpResponse(
                    f"<!doctype html><title>Too many login attempts</title><h1>Too many login attempts</h1>"
                    f"<p>Try again in {escape(wait)} seconds.</p>", status=429, content_type="text/html; charset=utf-8")
                response["Retry-After"] = str(wait)
                return response
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """A Content-Security-Policy on every response: scripts and everything else from this site only.

    Scripts run only from our own static files (plotly.js and the API docs' assets are served
    locally) or from an inline `<script nonce="{{ request.csp_nonce }}">`; no `unsafe-eval`: the
    charts' SVG traces do not need it. Styles allow inline `style` attributes and blocks, which
    plotly.js, Swagger UI and the admin set; a style cannot run code.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(request.csp_nonce)
        return response


def content_security_policy(nonce: str) -> str:
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data: blob:",
        "font-src": "'self' data:",
        "connect-src": "'self'",
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class LazyMessageMiddleware(MessageMiddleware):
    """Django's MessageMiddleware, with the message storage made when something first uses it.

    Django builds the storage (a cookie storage with its signer, and a session storage) on every
    request; the API and the kept pages never show a message, and building it was ~7% of the CPU
    an API request spends under load (py-spy, bench/load.py). A view that adds or shows messages
    (the admin, a page's form) makes it on first use, and the response is then updated as
    Django's does; a request that never touched it leaves its messages where they were.
    """

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response
        return super().process_response(request, response)
