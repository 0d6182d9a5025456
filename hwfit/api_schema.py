"""The OpenAPI schema documents the error contract, not only the successes.

Every operation may answer 404 (unknown record, page or format), 429 (anonymous throttle) and 503
(database down); one with query parameters or a body may answer 400 naming each bad field; writes
may answer 401/403 (not staff, or staff without the model permission), 413 and 415. A client generated from the schema then knows every status it
can get, and schemathesis checks that the API answers nothing else.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import SAFE_METHODS, AllowAny

ERROR_BODY = {
    "type": "object",
    "description": "`detail` with the reason, or each bad field with its reasons (nested for batches).",
    "additionalProperties": {},
}

ERRORS = {
    "400": "Bad input: each bad field and why.",
    "401": "Invalid credentials, or a write without a staff token or session.",
    "403": "Writes are for staff with the model's add/change/delete permission, as in the admin.",
    "404": "No such record, page or format.",
    "409": "A concurrent write took the record's unique name or slug first.",
    "413": "The request body is too large.",
    "415": "Unsupported request media type.",
    "429": "Too many requests from an anonymous client: retry after `Retry-After` seconds.",
    "503": "The database is unavailable: retry after `Retry-After` seconds.",
}

# `page` and `page_size` of an endpoint that pages by hand (hwfit.api_base.CatalogPagination).
PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="A page number, from 1."),
    OpenApiParameter("page_size", OpenApiTypes.INT,
                     description="Results per page, from 1 (default 50; above 500 gives 500)."),
]


class AutoSchema(SpectacularAutoSchema):
    def _error_codes(self) -> list[str]:
        writes = self.method in ("POST", "PUT", "PATCH", "DELETE")
        # 401: wrong credentials (a bad token) fail any request, reads included.
        codes = ["401", "404", "429", "503"]
        # A paged list refuses a page or page size that is not a whole number from 1.
        if writes or self._get_filter_parameters() or self.get_override_parameters() or self._get_paginator():
            codes.append("400")
        if writes:
            if not any(permission is AllowAny for permission in self.view.permission_classes):
                codes += ["403", "409"]
            if self.method != "DELETE":
                codes += ["413", "415"]
        return codes

    def _get_parameters(self):
        # OpenApiParameter has no minimum: give the hand-paged endpoints the list views' bound.
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter.get("in") == "query" and parameter["name"] in ("page", "page_size"):
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
        return parameters

    def get_auth(self) -> list[dict]:
        # Catalog reads need no credentials: say so (an empty requirement), as drf-spectacular does
        # for AllowAny, so that a generated client does not demand a token to read.
        auths = super().get_auth()
        public = any(getattr(permission, "readable_by_anyone", False) for permission in self.view.get_permissions())
        if public and self.method in SAFE_METHODS and {} not in auths:
            auths.append({})
        return auths

    def _resolve_path_parameters(self, variables):
        # A viewset's `lookup_example` (a record of the seeded catalog) fills the docs' "try it out"
        # and gives schemathesis' examples phase a record that exists.
        parameters = super()._resolve_path_parameters(variables)
        example = getattr(self.view, "lookup_example", None)
        if example is not None and len(parameters) == 1:
            parameters[0]["example"] = example
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            response = responses.setdefault(code, {"description": ERRORS[code]})
            response.setdefault("content", {"application/json": {"schema": ERROR_BODY}})
        return responses
