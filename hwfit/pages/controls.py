"""The GET form every model and device page keeps in its URL (shareable, works without JS).

The workload fields carry the estimate API's names and are validated by the API's own
serializer, so a page refuses exactly what `GET /api/v1/estimate/` refuses, with the same
reason, shown next to the field. Page-only fields (filters, the payback volume, the device the
model page details) are checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import QueryDict
from django.urls import reverse

from devices.models import DeviceKind
from estimator.api.serializers import DEFAULT_CONTEXT, WorkloadSerializer

# The workload fields a page offers, by their API names (estimator/api/serializers.py).
WORKLOAD_FIELDS = ("mode", "context_tokens", "batch", "tokens_per_forward", "device_count", "offload", "usd_per_kwh")
# The page's own fields.
PAGE_FIELDS = ("quantization", "runtime", "vendor", "kind", "family", "fits_only", "daily_tokens", "device")
MAX_DAILY_TOKENS = 10_000_000_000
DEFAULT_DAILY_TOKENS = 1_000_000


@dataclass
class Controls:
    """A page's validated GET form: what to estimate, and which rows to show."""

    quantization: str = ""          # a catalog slug; "" = the page's default
    runtime: str = ""               # a runtime slug; "" = the default per format and device kind
    workload: dict[str, Any] = field(default_factory=dict)   # API names -> given values only
    vendor: str = ""
    kind: str = ""
    family: str = ""
    fits_only: bool = False
    daily_tokens: int = DEFAULT_DAILY_TOKENS
    device: str = ""                # the model page's detailed device (panels, payback)
    errors: dict[str, list[str]] = field(default_factory=dict)
    shown: tuple[str, ...] = ()     # the controls the page renders (form_fields sets them)

    @property
    def general_errors(self) -> list[str]:
        """Errors shown next to no control: the workload as a whole (e.g. beyond the model's
        window), or a field this page does not render (a hand-edited URL)."""
        return [f"{name}: {reason}" if name in (*WORKLOAD_FIELDS, *PAGE_FIELDS) else reason
                for name, reasons in self.errors.items() if name not in self.shown for reason in reasons]

    @property
    def mode(self) -> str | None:
        return self.workload.get("mode")

    def query(self, **changes: Any) -> str:
        """This form as a query string, with `changes` applied (None drops a field)."""
        values: dict[str, Any] = {"quantization": self.quantization, "runtime": self.runtime, **self.workload,
                                  "vendor": self.vendor, "kind": self.kind, "family": self.family,
                                  "fits_only": "on" if self.fits_only else None, "device": self.device}
        if self.daily_tokens != DEFAULT_DAILY_TOKENS:
            values["daily_tokens"] = self.daily_tokens
        values.update(changes)
        return urlencode({name: _query_value(value) for name, value in values.items() if value not in (None, "")})


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def controls_from_query(query: QueryDict) -> Controls:
    """Read and validate a page's GET form; errors are kept per field, never raised."""
    given = {name: query.get(name, "").strip() for name in (*WORKLOAD_FIELDS, *PAGE_FIELDS)}
    controls = Controls(quantization=given["quantization"], runtime=given["runtime"], vendor=given["vendor"],
                        family=given["family"], device=given["device"], fits_only=given["fits_only"] in ("on", "true", "1"))
    serializer = WorkloadSerializer(data={name: given[name] for name in WORKLOAD_FIELDS if given[name]})
    if serializer.is_valid():
        controls.workload = {name: value for name, value in serializer.validated_data.items() if value is not None}
    else:
        controls.errors.update({name: [str(reason) for reason in reasons] for name, reasons in serializer.errors.items()})
    if given["kind"]:
        if given["kind"] in DeviceKind.values:
            controls.kind = given["kind"]
        else:
            controls.errors["kind"] = [f"Unknown kind {given['kind']!r}: one of {', '.join(DeviceKind.values)}."]
    if given["daily_tokens"]:
        try:
            daily = int(given["daily_tokens"].replace(",", "").replace("_", ""))
        except ValueError:
            controls.errors["daily_tokens"] = ["Give a whole number of tokens a day, e.g. 1000000."]
        else:
            if not 1 <= daily <= MAX_DAILY_TOKENS:
                controls.errors["daily_tokens"] = [f"Give between 1 and {MAX_DAILY_TOKENS:,} tokens a day."]
            else:
                controls.daily_tokens = daily
    return controls


def calculator_url(record: dict[str, Any], controls: Controls) -> str:
    """The calculator permalink of one result: the estimate API's field names, given values only."""
    params: dict[str, Any] = {
        "model": record["model"]["slug"], "device": record["device"]["slug"],
        "quantization": record["quantization"]["slug"], "runtime": controls.runtime, **controls.workload,
    }
    if record["workload"]["device_count"] and record["workload"]["device_count"] > 1:
        params["device_count"] = record["workload"]["device_count"]
    return reverse("calculator") + "?" + urlencode({name: _query_value(value) for name, value in params.items()
                                              if value not in (None, "")})


@dataclass(frozen=True)
class FormField:
    """One control of a page's GET form, ready to render (value as given, its error if any)."""

    name: str
    label: str
    value: str
    kind: str = "number"             # number | select | checkbox
    options: tuple[tuple[str, str], ...] = ()
    error: str = ""
    help: str = ""
    step: str = "1"
    minimum: str = "1"
    placeholder: str = ""


def _given(controls: Controls, name: str, query: QueryDict) -> str:
    # A bad value is shown back as typed, next to its error; a good one as the form kept it.
    if name in controls.errors:
        return query.get(name, "")
    value = controls.workload.get(name, getattr(controls, name, ""))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def form_fields(controls: Controls, query: QueryDict, *, quantizations: list[tuple[str, str]],
                runtimes: list[tuple[str, str]], runtime_default: str, extra: tuple[FormField, ...] = ()) -> list[FormField]:
    """The workload controls every page shows, then the page's own (`extra`)."""

    def error(name: str) -> str:
        return " ".join(controls.errors.get(name, []))

    def field_(name: str, label: str, **kwargs: Any) -> FormField:
        return FormField(name=name, label=label, value=_given(controls, name, query), error=error(name), **kwargs)

    fields = [
        field_("quantization", "Quantization", kind="select", options=tuple(quantizations)),
        field_("runtime", "Runtime", kind="select", options=(("", f"default: {runtime_default}"), *runtimes),
               help="What the estimate assumes; runtimes differ several-fold."),
        field_("mode", "Mode", kind="select", options=(("", "the model's own"), ("decode", "decode"),
                                                       ("prefill", "prefill"), ("diffusion", "diffusion"))),
        field_("context_tokens", "Context (tokens)", placeholder=f"{DEFAULT_CONTEXT}"),
        field_("batch", "Batch", placeholder="1", help="Concurrent sequences."),
        field_("tokens_per_forward", "Tokens per forward", step="any", placeholder="the model's",
               help="Diffusion: tokens committed per forward."),
        field_("device_count", "Devices", placeholder="1"),
        field_("offload", "Offload to host", kind="select", options=(("", "allowed"), ("false", "not allowed"))),
        field_("usd_per_kwh", "Energy $/kWh", step="any", minimum="0", placeholder=f"{settings.HWFIT_USD_PER_KWH:g}"),
        *extra,
        FormField(name="fits_only", label="Only what fits on one device", kind="checkbox",
                  value="on" if controls.fits_only else ""),
    ]
    controls.shown = tuple(f.name for f in fields)
    return fields
