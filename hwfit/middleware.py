"""Request checks that hold for every page, before any view or the admin runs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


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
