"""Search, sort and filter the catalog: the home page's search box and the model and device lists.

Server-side (works without JavaScript): every word of the query must appear in one of a record's
searched fields. Unknown sort keys or filter values are a message on the page, never sent to the
database (PostgreSQL refuses a NUL byte with a 500).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode
from dataclasses import dataclass, field

from django.db.models import F, Q, QuerySet

from devices.models import Device, DeviceKind
from models_catalog.models import GenerationMode, ModelArchitecture

MAX_QUERY = 100
MAX_RESULTS = 50
DEVICE_SEARCH = ("name", "vendor", "slug", "interconnect")
MODEL_SEARCH = ("name", "family", "org", "slug", "hf_repo")

# Sort key (as in the URL) -> (column heading, field); "-key" sorts descending, unknown values last.
DEVICE_SORTS = {"name": ("Device", "name"), "vendor": ("Vendor", "vendor"), "memory": ("Memory", "memory_gb"),
                "bandwidth": ("Bandwidth", "memory_bandwidth_gbs"), "compute": ("BF16 / FP16 dense", "bf16_tflops"),
                "power": ("Power", "tdp_w"), "year": ("Launched", "launch_year"), "price": ("Launch price", "launch_price_usd")}
MODEL_SORTS = {"name": ("Model", "name"), "family": ("Family", "family"), "total": ("Total params", "total_params_b"),
               "active": ("Active params", "active_params_b"), "context": ("Context", "max_context")}


@dataclass
class Listing:
    """A list page's rows with the search, sort and filters that chose them."""

    rows: QuerySet | list
    q: str = ""
    sort: str = "name"
    filters: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def base_query(self) -> str:
        """The search and filters as a query string, for links that change only the sort."""
        return urlencode({name: value for name, value in {"q": self.q, **self.filters}.items() if value})


def sort_columns(sorts: dict[str, tuple[str, str]], text: tuple[str, ...]) -> list[tuple[str, str, bool]]:
    """(key, heading, numeric) per sortable column; `text` names the columns that are not numbers."""
    return [(key, label, key not in text) for key, (label, _) in sorts.items()]


def words(q: str) -> list[str]:
    """The query's words (at most 10), NUL and other control characters dropped."""
    q = re.sub(r"[\x00-\x1f]", " ", q)[:MAX_QUERY]
    return q.split()[:10]


def _matching(queryset: QuerySet, q: str, fields: tuple[str, ...]) -> QuerySet:
    for word in words(q):
        match = Q()
        for name in fields:
            match |= Q(**{f"{name}__icontains": word})
        queryset = queryset.filter(match)
    return queryset


def _sorted(queryset: QuerySet, sort: str, sorts: dict[str, tuple[str, str]], errors: dict[str, list[str]]) -> tuple[QuerySet, str]:
    key = sort.removeprefix("-")
    if key not in sorts:
        errors["sort"] = [f"Unknown sort {sort[:40]!r}: one of {', '.join(sorts)} (prefix - for descending)."]
        return queryset.order_by("name"), "name"
    column = F(sorts[key][1])
    # Unknown values (NULL) last either way: a list sorted by memory starts with a known memory.
    expression = column.asc(nulls_last=True) if sort == key else column.desc(nulls_last=True)
    return queryset.order_by(expression, "name"), sort


def _listing(queryset: QuerySet, params, *, choice: tuple[str, list[str], str], exact: str,
             search: tuple[str, ...], sorts: dict[str, tuple[str, str]]) -> Listing:
    """A list page's rows: one field chosen from its values, one matched exactly (any case), free
    text over `search`, a sort; a bad choice or sort is an error naming its parameter."""
    field, values, label = choice
    errors: dict[str, list[str]] = {}
    q, chosen, exact_value = (params.get(name, "").strip() for name in ("q", field, exact))
    filters = {}
    if chosen and chosen not in values:
        errors[field] = [f"Unknown {label} {chosen!r}: one of {', '.join(values)}."]
    elif chosen:
        queryset = queryset.filter(**{field: chosen})
        filters[field] = chosen
    if exact_value:
        exact_value = " ".join(words(exact_value))
        queryset = queryset.filter(**{f"{exact}__iexact": exact_value})
        filters[exact] = exact_value
    queryset = _matching(queryset, q, search)
    queryset, sort = _sorted(queryset, params.get("sort", "name").strip() or "name", sorts, errors)
    if errors:
        queryset = queryset.none()
    return Listing(rows=queryset, q=" ".join(words(q)), sort=sort, filters=filters, errors=errors)


def device_listing(params) -> Listing:
    devices = Device.objects.only("name", "slug", "vendor", "kind", "memory_gb", "memory_bandwidth_gbs", "bf16_tflops",
                                  "fp16_tflops", "tdp_w", "launch_year", "launch_price_usd")
    return _listing(devices, params, choice=("kind", DeviceKind.values, "kind"), exact="vendor",
                    search=DEVICE_SEARCH, sorts=DEVICE_SORTS)


def model_listing(params) -> Listing:
    models = ModelArchitecture.objects.only("name", "slug", "family", "org", "generation_mode", "total_params_b",
                                            "active_params_b", "n_experts", "max_context")
    return _listing(models, params, choice=("generation_mode", GenerationMode.values, "generation mode"),
                    exact="family", search=MODEL_SEARCH, sorts=MODEL_SORTS)


@dataclass
class SearchResults:
    q: str
    models: list[ModelArchitecture]
    devices: list[Device]

    @property
    def count(self) -> int:
        return len(self.models) + len(self.devices)


def catalog_search(q: str) -> SearchResults:
    """Models and devices whose fields hold every word of `q` (at most 50 of each)."""
    q = " ".join(words(q))
    if not q:
        return SearchResults(q="", models=[], devices=[])
    models = _matching(ModelArchitecture.objects.only("name", "slug", "family", "org", "total_params_b", "generation_mode"),
                       q, MODEL_SEARCH)
    devices = _matching(Device.objects.only("name", "slug", "vendor", "kind", "memory_gb"), q, DEVICE_SEARCH)
    return SearchResults(q=q, models=list(models[:MAX_RESULTS]), devices=list(devices[:MAX_RESULTS]))
