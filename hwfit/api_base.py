"""What every API endpoint shares: writes validated like admin edits, a stable order, paging.

The catalog apps declare their serializers, filters and viewsets on top of these; nothing here
knows about a particular model. REST_FRAMEWORK settings name classes of this module, so it must
not import rest_framework.views (DRF reads those settings while defining APIView).
"""

from __future__ import annotations

import codecs
import copy
import re

import django_filters
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.settings import api_settings
from rest_framework.utils import json

# What a catalog slug may be (SlugField): anything else in a URL is a 404 before any query.
SLUG = r"[-a-zA-Z0-9_]+"


def errors_by_field(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A Django ValidationError as DRF shows errors: field -> reasons, `non_field_errors` for the rest."""
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
    return {
        (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): messages
        for field, messages in exc.message_dict.items()
    }


class CleanedModelSerializer(serializers.ModelSerializer):
    """A staff write is validated exactly like an admin edit: the model's `full_clean()`.

    The model's `clean()` holds the catalog invariants (active <= total parameters, bandwidth > 0,
    ...); running it here means the API and the admin cannot disagree about what is valid, and a
    violation is a 400 naming the field and the reason instead of an IntegrityError.
    """

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        # full_clean() skips blank=True fields whose value is empty, None included, so a JSON field
        # sent as `null` in a form would reach the database's NOT NULL and fail there.
        nulls = {name: ["This field may not be null."] for name, value in attrs.items()
                 if value is None and not self.Meta.model._meta.get_field(name).null}
        if nulls:
            raise serializers.ValidationError(nulls)
        # A copy, so a rejected PATCH leaves the instance the view holds untouched.
        candidate = copy.copy(self.instance) if self.instance is not None else self.Meta.model()
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            candidate.full_clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(errors_by_field(exc)) from exc
        return attrs


class StableOrderingFilter(OrderingFilter):
    """`?ordering=` with a deterministic result: unknown (NULL) values last, ties broken by pk.

    Without the pk tie-break two rows with equal keys may swap between page queries, so a client
    walking the pages could see one twice and miss another. NULLs sort first on SQLite and last on
    PostgreSQL by default; pinning them last makes both databases give the same pages. A field that
    cannot be ordered by is a 400 naming it (DRF would drop it silently and answer in another order).
    """

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        # A detail or compatibility URL is not ordered: its look-up ignores the parameter.
        if params and not getattr(view, "detail", False):
            terms = [term.strip() for term in params.split(",") if term.strip()]
            valid = {item[0] for item in self.get_valid_fields(queryset, view, {"request": request})}
            unknown = [term for term in terms if term.lstrip("-") not in valid]
            if unknown:
                raise serializers.ValidationError({self.ordering_param: [
                    f"Cannot order by {', '.join(unknown)}: one of {', '.join(sorted(valid))} (prefix - for descending)."
                ]})
        return super().get_ordering(request, queryset, view)

    def filter_queryset(self, request, queryset, view):
        terms = []
        for term in self.get_ordering(request, queryset, view) or []:
            name = term.lstrip("-")
            if name in ("pk", "id"):
                return queryset.order_by(*terms, term)  # the pk decides everything after it
            terms.append(F(name).desc(nulls_last=True) if term.startswith("-") else F(name).asc(nulls_last=True))
        return queryset.order_by(*terms, "pk")


class NamedSearchFilter(SearchFilter):
    """`?search=`, whose bad values (NUL characters) are named like any other bad field."""

    def get_search_terms(self, request) -> list[str]:
        try:
            return super().get_search_terms(request)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({self.search_param: exc.detail}) from exc


class StrictBooleanField(forms.NullBooleanField):
    """true/false (1/0, yes/no) or absent; anything else is an error, not a filter silently dropped."""

    TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError("Must be true or false.", code="invalid")

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        # The default select widget turns an unknown value into "not given" before the field sees it.
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


# A whole number written in ASCII digits: str.isdigit() also accepts '¹' or '٣', which int() refuses.
WHOLE_NUMBER = re.compile(r"[0-9]+")


class CatalogPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        # A page that is not a number is bad input (400, named); a page past the end does not
        # exist (404), as DRF answers.
        page = request.query_params.get(self.page_query_param)
        if page is not None and page not in self.last_page_strings and not _whole_number_from(page, 1):
            raise serializers.ValidationError({self.page_query_param: ["A page number is a whole number from 1."]})
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request) -> int:
        # DRF ignores a page size it cannot read and answers 50 rows: a client that asked for
        # `abc` is told instead. Above the maximum the page is the maximum, as DRF does.
        given = request.query_params.get(self.page_size_query_param)
        if given is None:
            return self.page_size
        if not _whole_number_from(given, 1):
            raise serializers.ValidationError({self.page_size_query_param: [
                f"A page size is a whole number from 1 (at most {self.max_page_size} are given)."]})
        return min(int(given), self.max_page_size)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] in (self.page_query_param, self.page_size_query_param):
                parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (f"Results per page, from 1 (default {self.page_size}; "
                                            f"above {self.max_page_size} gives {self.max_page_size}).")
        return parameters


def _whole_number_from(text: str, lowest: int) -> bool:
    return bool(WHOLE_NUMBER.fullmatch(text)) and int(text) >= lowest


# `\ud800`-`\udfff` escapes: the only way a JSON text can carry a surrogate, paired or not.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class JSONParser(parsers.JSONParser):
    r"""DRF's JSON parser, with the two inputs it lets through as a 500 answered as a 400.

    JSON nested deeper than Python's recursion limit (~1,000 levels) raises RecursionError inside
    `json.load`; a lone surrogate (`"\ud800"`) parses into a str that cannot be encoded as UTF-8,
    so it fails later, in the database or while echoing the value back in an error message.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parsers.get_encoding(parser_context)
        raw = stream.read() if stream is not None else b""
        try:
            text = codecs.decode(raw, encoding)
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(data):
            raise ParseError("JSON parse error - a string contains a lone surrogate (\\ud800-\\udfff), "
                             "which is not Unicode text.")
        return data


def _has_lone_surrogate(value) -> bool:
    # A valid pair was joined into one code point by json.loads; what is left alone cannot encode.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
