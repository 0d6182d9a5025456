"""One error contract for the API: a 400 names each bad field and why; nothing else leaks a 500."""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from estimator.services import ScenarioInputError
from hwfit.api_base import errors_by_field
from hwfit.middleware import RETRY_AFTER_S, is_database_outage, unavailable_response


def exception_handler(exc, context):
    # Domain code raises Django's ValidationError with field -> reason; show it like DRF's own.
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=errors_by_field(exc))
    elif isinstance(exc, ScenarioInputError):
        # Scenarios the estimator cannot resolve: each bad field by scenario (batch) or alone.
        exc = exceptions.ValidationError(detail=exc.detail)
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, list):
        # Errors that name no field still come as an object, like every other error body.
        exc = exceptions.ValidationError(detail={api_settings.NON_FIELD_ERRORS_KEY: exc.detail})
    elif isinstance(exc, RequestDataTooBig):
        # Django would answer with an HTML page; an API client gets the reason as JSON.
        megabytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20
        return Response({"detail": f"The request body is larger than {megabytes:g} MiB. Send fewer scenarios per "
                                   "request, or inline objects with only the estimator's fields."},
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    elif isinstance(exc, SuspiciousOperation):
        # Too many form fields or files, a malformed multipart body: the client's fault, said as JSON.
        return Response({"detail": str(exc) or "Malformed request."}, status=status.HTTP_400_BAD_REQUEST)
    elif is_database_outage(exc):
        # The database is down or dropped the connection: the service's state, not a bug (503).
        set_rollback()
        return Response({"detail": "The database is unavailable; try again in a few seconds."},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_S)})
    elif isinstance(exc, IntegrityError):
        # A concurrent write won the race for a unique field that full_clean() had checked.
        set_rollback()
        return Response({"detail": "The record conflicts with one saved meanwhile; reload it and try again."},
                        status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)


def not_found(request, exception=None):
    """handler404: an API client gets JSON for a URL that matches no route (e.g. /api/v1/devices/a.b/)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: a database outage met outside a view is still a 503; an API client gets JSON."""
    exc = sys.exc_info()[1]
    if exc is not None and is_database_outage(exc):
        return unavailable_response(request)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
