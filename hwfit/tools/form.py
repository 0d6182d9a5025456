"""GET forms of the tools: fields with their value and errors, for a template to lay out.

The tools validate with the estimate API's serializers (a page refuses exactly what
`/api/v1/estimate/` refuses, with the same reason); these fields only carry what the visitor
typed back to the page, the choices, and each field's errors next to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.http import QueryDict

from estimator import services
from estimator.api.serializers import DEFAULT_CONTEXT

Choices = Sequence[tuple[str, str]]
# The choice that switches a model or device to the figures typed into the form.
CUSTOM = "custom"

# The workload fields, by the estimate API's names (estimator/api/serializers.py).
WORKLOAD_FIELDS = ("mode", "context_tokens", "prompt_tokens", "gen_tokens", "batch", "block_size",
                   "tokens_per_forward", "kv_cache_dtype", "device_count", "parallel", "offload", "host_memory_gb",
                   "usd_per_kwh")


@dataclass
class FormField:
    name: str
    label: str
    value: str = ""
    choices: Choices = ()           # a select when given
    placeholder: str = ""
    help: str = ""
    errors: list[str] = field(default_factory=list)
    step: str = "any"
    numeric: bool = True            # a number box (phones show a number keypad)
    slot: int | None = None         # the position of a repeated field (compare's devices)

    @property
    def html_id(self) -> str:
        return self.name if self.slot is None else f"{self.name}-{self.slot + 1}"

    @property
    def is_select(self) -> bool:
        return bool(self.choices)


def query_values(query: QueryDict, names: Iterable[str]) -> dict[str, str]:
    """The given (non-empty) values of `names`, stripped."""
    values = {name: query.get(name, "").strip() for name in names}
    return {name: value for name, value in values.items() if value}


def query_string(values: dict[str, Any]) -> str:
    """A permalink's query: given values only, whole floats without '.0', booleans as true/false."""
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return urlencode({name: text(value) for name, value in values.items() if value not in (None, "")})


def flat_errors(errors: Any, *, inline_fields: dict[str, str] | None = None) -> dict[str, list[str]]:
    """An API error body ({field: [reasons]}, or {device: {memory_gb: [...]}} for an inline
    object) as {form field: [reasons]}. Inline fields land on the form's field of the same name,
    renamed by `inline_fields` where the form prefixes them (`name` -> `device_name`)."""
    out: dict[str, list[str]] = {}
    for name, reasons in (errors or {}).items():
        if isinstance(reasons, dict):
            for inner, inner_reasons in reasons.items():
                target = (inline_fields or {}).get(f"{name}.{inner}", inner)
                if inner == "non_field_errors":
                    target = name
                out.setdefault(target, []).extend(str(r) for r in _as_list(inner_reasons))
        else:
            out.setdefault("general" if name == "non_field_errors" else name, []).extend(
                str(r) for r in _as_list(reasons))
    return out


def _as_list(reasons: Any) -> list[Any]:
    return list(reasons) if isinstance(reasons, (list, tuple)) else [reasons]


def catalog_choices(frame, *, custom: str | None = None) -> list[tuple[str, str]]:
    """(slug, name) of a catalog table's frame, plus the custom entry when asked."""
    choices = list(zip(frame["slug"].tolist(), frame["name"].tolist()))
    return choices + ([(CUSTOM, custom)] if custom else [])


def workload_fields(values: dict[str, str], errors: dict[str, list[str]], runtimes: list[str]) -> list[FormField]:
    """The workload's fields, as every tool offers them."""
    def f(name: str, label: str, **kwargs) -> FormField:
        return FormField(name=name, label=label, value=values.get(name, ""), errors=errors.get(name, []), **kwargs)

    blank = [("", "default")]
    return [
        f("runtime", "Runtime", choices=blank + [(slug, slug) for slug in runtimes],
          help="Default: the usual one for the format and device."),
        f("mode", "Mode", choices=blank + [(m, m) for m in services.MODES],
          help="Default: the model's own (decode, or diffusion for a diffusion model)."),
        f("context_tokens", "Context (tokens)", placeholder=f"{DEFAULT_CONTEXT}", step="1"),
        f("prompt_tokens", "Prompt (tokens)", placeholder="context − generated", step="1"),
        f("gen_tokens", "Generated (tokens)", placeholder="256", step="1"),
        f("batch", "Concurrent requests (batch)", placeholder="1", step="1"),
        f("tokens_per_forward", "Tokens per forward (diffusion)", placeholder="the model's"),
        f("block_size", "Block size (diffusion)", placeholder="the model's", step="1"),
        f("kv_cache_dtype", "KV cache type", choices=blank + [(d, d) for d in services.KV_CACHE_DTYPES]),
        f("device_count", "Devices", placeholder="1", step="1"),
        f("parallel", "Split over devices", choices=blank + [(p, p) for p in services.PARALLEL_MODES if p != "auto"]),
        f("offload", "Offload to host RAM", choices=[("", "default (yes)"), ("true", "yes"), ("false", "no")]),
        f("host_memory_gb", "Host RAM (GB)", placeholder="64"),
        f("usd_per_kwh", "Electricity ($/kWh)", placeholder="site default"),
    ]
