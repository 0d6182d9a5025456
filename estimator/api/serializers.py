"""Estimate requests and results.

Inputs: a scenario names a model, a quantization and a device by catalog slug or name, or inline
with the same field names the catalog endpoints return (a pasted catalog response works: fields
that are not the estimator's, like `created_at`, are ignored). Workload values not given take the
core's defaults (pipeline.WORKLOAD_DEFAULTS), shown back in each result's `workload`.

Outputs are documented in `estimator/api/result_serializers.py` and built by
`estimator.services.result_records` (plain dicts: a batch of 1,000 results is not pushed through
1,000 serializers).
"""

from __future__ import annotations

import copy
import math
import threading
from collections import OrderedDict

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers
from rest_framework.fields import empty

from devices.models import Device
from estimator import selectors, services
from estimator.core import pipeline
from hwfit.api_json import canonical_json
from models_catalog.importers.hf_config import ConfigImportError, architecture_from_config
from models_catalog.models import ModelArchitecture, QuantizationFormat

MAX_BATCH = 1000
MAX_TOKENS = 10_000_000
DEFAULT_CONTEXT = int(pipeline.WORKLOAD_DEFAULTS["context"])


class OptionalBooleanField(serializers.BooleanField):
    # DRF reads a boolean missing from a query string as False; here missing means "not given".
    default_empty_html = empty


class WorkloadSerializer(serializers.Serializer):
    """What is run. Every field is optional; a result's `workload` shows the values used."""

    mode = serializers.ChoiceField(
        choices=services.MODES, required=False,
        help_text="Which figure `tokens_per_s` reports: decode (autoregressive generation at `batch`), prefill "
                  "(prompt processing) or diffusion (block-diffusion generation; block-diffusion models only). "
                  "Default: the model's own generation mode.")
    context_tokens = serializers.IntegerField(
        min_value=1, max_value=MAX_TOKENS, required=False,
        help_text=f"Tokens the KV cache holds per sequence (default {DEFAULT_CONTEXT}); at most the model's max_context.")
    prompt_tokens = serializers.IntegerField(min_value=1, max_value=MAX_TOKENS, required=False,
                                             help_text="Prompt length for prefill and TTFT (default: context - gen).")
    gen_tokens = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False,
                                          help_text="Tokens generated (default 256).")
    batch = serializers.IntegerField(min_value=1, max_value=4096, required=False,
                                     help_text="Concurrent sequences (default 1).")
    block_size = serializers.IntegerField(min_value=1, max_value=65536, required=False,
                                          help_text="Diffusion block size (default: the model's).")
    tokens_per_forward = serializers.FloatField(min_value=1, max_value=65536, required=False,
                                                help_text="Diffusion tokens committed per forward (default: the model's).")
    steps_per_block = serializers.IntegerField(min_value=1, max_value=65536, required=False,
                                               help_text="Diffusion denoising steps per block (default: block / tokens per forward).")
    kv_cache_dtype = serializers.ChoiceField(choices=services.KV_CACHE_DTYPES, required=False,
                                             help_text="KV cache element type (default fp16).")
    diffusion_cache = serializers.ChoiceField(choices=services.DIFFUSION_CACHES, required=False,
                                              help_text="Full-attention diffusion models: Fast-dLLM cache (default dual).")
    offload = OptionalBooleanField(required=False,
                                   help_text="Allow offloading layers to host RAM when the model does not fit (default true).")
    host_memory_gb = serializers.FloatField(min_value=0, max_value=1_000_000, required=False,
                                            help_text="Host RAM available for offloaded layers (default 64).")
    device_count = serializers.IntegerField(min_value=1, max_value=64, required=False,
                                            help_text="Devices the model is spread over (default 1).")
    memory_gb = serializers.FloatField(
        min_value=0.001, max_value=1_000_000, required=False,
        help_text="Memory of the device in GB, for parts sold with several sizes (Apple chips): one of the device's "
                  "memory options when the catalog lists them. Default: the catalog's memory_gb.")
    parallel = serializers.ChoiceField(choices=services.PARALLEL_MODES, required=False,
                                       help_text="How several devices split the model (default auto).")
    usd_per_kwh = serializers.FloatField(min_value=0, max_value=100, required=False,
                                         help_text="Energy price for the energy cost (default: the site's).")

    def validate(self, attrs: dict) -> dict:
        errors = {}
        prompt, context = attrs.get("prompt_tokens"), attrs.get("context_tokens")
        if prompt and prompt > (context or DEFAULT_CONTEXT):
            # The KV cache is sized for the context: a longer prompt would be timed on a cache it overflows.
            given = f"{context} tokens" if context else f"{DEFAULT_CONTEXT} tokens, the default: give context_tokens"
            errors["prompt_tokens"] = [f"The prompt ({prompt} tokens) cannot be longer than the context ({given})."]
        if attrs.get("tokens_per_forward") and attrs.get("block_size") and attrs["tokens_per_forward"] > attrs["block_size"]:
            errors["tokens_per_forward"] = [f"Tokens per forward ({attrs['tokens_per_forward']:g}) cannot exceed the "
                                            f"block size ({attrs['block_size']})."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# --- Inline catalog objects -----------------------------------------------------------------------

def _inline_kwargs(fields: tuple[str, ...], optional: tuple[str, ...]) -> dict:
    # Uniqueness and identity do not apply to an object that is never stored.
    kwargs = {name: {"required": False, "validators": []} for name in ("name", "slug") if name in fields}
    kwargs.update({name: {"required": False} for name in optional if name in fields})
    return kwargs


class InlineModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelArchitecture
        fields = selectors.MODEL_FIELDS
        extra_kwargs = _inline_kwargs(selectors.MODEL_FIELDS, ())


class InlineQuantizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = QuantizationFormat
        fields = selectors.QUANT_FIELDS
        extra_kwargs = _inline_kwargs(selectors.QUANT_FIELDS, ())


class InlineDeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = selectors.DEVICE_FIELDS
        extra_kwargs = _inline_kwargs(selectors.DEVICE_FIELDS, ("vendor",))


def model_from_config(data: dict) -> dict:
    """`{"config": {...}, "name": ...}`: a Hugging Face config.json read into an inline model, nothing saved."""
    if "config" not in data:
        return data
    try:
        if not isinstance(data["config"], dict):
            raise ConfigImportError("A config.json is a JSON object ({...}).")
        record = architecture_from_config(data["config"], name=data.get("name"))
    except ConfigImportError as exc:
        raise serializers.ValidationError({"config": [str(exc)]}) from exc
    return {key: value for key, value in record.items() if key in selectors.MODEL_FIELDS}


class CatalogRefField(serializers.Field):
    """A catalog record by slug or name (a string), or an inline object with the catalog's fields.

    Strings are looked up by the service for the whole batch at once; an inline object's types
    are checked here and its invariants (the model's clean()) by the service.
    """

    default_error_messages = {
        "invalid": "Give a catalog slug or name (a string) or an inline object.",
        "blank": "This field may not be blank.",
    }

    def __init__(self, inline_serializer: type[serializers.ModelSerializer], expand=None, **kwargs):
        self.inline_serializer = inline_serializer
        # Turns another way of giving the object (e.g. a config.json) into its inline fields.
        self.expand = expand
        super().__init__(**kwargs)
        # One inline serializer for every item of a batch: building a ModelSerializer's fields
        # costs more than validating with them, and a batch often repeats one inline object.
        self._inline: serializers.ModelSerializer | None = None
        self._validated: dict[bytes, dict] = {}

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not data.strip():
                self.fail("blank")
            return data
        if not isinstance(data, dict):
            self.fail("invalid")
        key = canonical_json(data)
        if key not in self._validated:
            if self._inline is None:
                self._inline = self.inline_serializer()
            self._validated[key] = dict(self._inline.run_validation(self.expand(data) if self.expand else data))
        return dict(self._validated[key])

    def to_representation(self, value):
        return value


class CatalogRefFieldExtension(OpenApiSerializerFieldExtension):
    target_class = CatalogRefField

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(self.target.inline_serializer, direction)
        string = {**build_basic_type(OpenApiTypes.STR), "minLength": 1, "description": "A catalog slug or name."}
        return {"oneOf": [string, component.ref]}


# Scenarios validated by this process, by their JSON (see ScenarioSerializer.run_validation).
KEPT_SCENARIOS = 20_000
_kept_lock = threading.Lock()
_kept_scenarios: OrderedDict[bytes, dict] = OrderedDict()


def _plain_key(data) -> bytes | None:
    """A scenario of strings and finite numbers only (records named, none inline), as canonical JSON."""
    if not isinstance(data, dict) or not all(
            value is None or type(value) in (str, int, bool) or (type(value) is float and math.isfinite(value))
            for value in data.values()):
        return None
    return canonical_json(data)


class ScenarioSerializer(WorkloadSerializer):
    """One scenario: model x quantization x device (+ runtime) under a workload."""

    def run_validation(self, data=empty):
        """A scenario naming its records (strings, checked later against the catalog by the service)
        validates from its own fields alone, so its validated form is kept by this process: a batch
        of 100 such scenarios otherwise spends most of its time in DRF's field validation. Invalid
        or inline scenarios are validated every time."""
        key = _plain_key(data)
        if key is None:
            return super().run_validation(data)
        with _kept_lock:
            kept = _kept_scenarios.get(key)
        if kept is None:
            kept = dict(super().run_validation(data))
            with _kept_lock:
                _kept_scenarios[key] = kept
                while len(_kept_scenarios) > KEPT_SCENARIOS:
                    _kept_scenarios.popitem(last=False)
        return dict(kept)

    model = CatalogRefField(InlineModelSerializer, expand=model_from_config,
                            help_text='Catalog slug or name, an inline model, or {"config": {...}}: a Hugging Face '
                                      'config.json, read (parameters counted from its shapes) without saving.')
    quantization = CatalogRefField(InlineQuantizationSerializer,
                                   help_text="Catalog slug or name, or an inline quantization format. The "
                                             "`quantization` printed by `hwfit import-gguf --json` is one: its "
                                             "bits_per_weight is the file's own, so with that file's model the "
                                             "weights take exactly the file's bytes.")
    device = CatalogRefField(InlineDeviceSerializer, help_text="Catalog slug or name, or an inline device.")
    runtime = serializers.SlugField(required=False, help_text="Runtime slug (default: the usual one for the "
                                                              "format and device kind).")


class EstimateBatchSerializer(serializers.Serializer):
    scenarios = serializers.ListField(child=ScenarioSerializer(), min_length=1, max_length=MAX_BATCH,
                                      help_text=f"Up to {MAX_BATCH} scenarios, answered in one call.")


class QuerySerializer(serializers.Serializer):
    """A query string's serializer: its fields copied from one prototype per class, not deep-copied.

    DRF deep-copies every declared field for each serializer it builds (~0.25 ms for a workload's
    20 fields, a twentieth of an estimate's time). Validating reads a field's settings and never
    changes them, so each serializer gets a shallow copy of each field (its own name and parent
    when bound, the prototype's validators and choices). Only for plain fields: a field that keeps
    state per serializer (CatalogRefField's inline cache) must stay deep-copied.
    """

    def get_fields(self):
        prototypes = type(self).__dict__.get("_prototype_fields")
        if prototypes is None:
            prototypes = super().get_fields()
            type(self)._prototype_fields = prototypes
        return {name: copy.copy(field) for name, field in prototypes.items()}


class EstimateQuerySerializer(QuerySerializer, WorkloadSerializer):
    """The GET form: catalog records by slug or name."""

    model = serializers.CharField(help_text="Model slug or name.")
    quantization = serializers.CharField(help_text="Quantization slug or name.")
    device = serializers.CharField(help_text="Device slug or name.")
    runtime = serializers.SlugField(required=False, help_text="Runtime slug.")


class CompatibilityQuerySerializer(QuerySerializer, WorkloadSerializer):
    quantization = serializers.CharField(
        required=False, help_text="Quantization slugs, comma-separated (default: every quantization).")
    runtime = serializers.SlugField(required=False, help_text="Runtime slug (default: the usual one per row).")

    def validate_quantization(self, value: str) -> list[str]:
        slugs = [slug.strip() for slug in value.split(",") if slug.strip()]
        if not slugs:
            raise serializers.ValidationError("Give at least one quantization slug.")
        return slugs
