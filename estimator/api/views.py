"""Estimates: POST one scenario or a batch, GET the simple case; compatibility tables per record."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample, OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema,
)
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.models import Device
from estimator import services
from estimator.api import result_serializers, serializers
from estimator.api.kept import kept_answer
from estimator.api.renderers import CompatibilityCSVRenderer
from estimator.services.catalog_cache import estimates_cached
from hwfit.api_base import CatalogPagination, JSONParser
from hwfit.api_json import JSONRenderer
from hwfit.api_schema import PAGE_PARAMETERS
from models_catalog.models import ModelArchitecture


ONE_SCENARIO = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090",
                "context_tokens": 8192}
EXAMPLES = [
    OpenApiExample("One scenario", value=ONE_SCENARIO, request_only=True),
    OpenApiExample("A batch", request_only=True, value={"scenarios": [
        ONE_SCENARIO,
        {"model": "qwen3-30b-a3b", "quantization": "q4-k-m", "device": "apple-m2-max", "mode": "prefill",
         "prompt_tokens": 2048},
        {"model": "sdar-8b-chat", "quantization": "bf16", "device": "nvidia-h100-sxm", "mode": "diffusion",
         "batch": 4, "block_size": 4},
    ]}),
    OpenApiExample("A device not in the catalog", request_only=True, value={
        "model": "llama-3-1-70b", "quantization": "q4-k-m", "device_count": 2,
        "device": {"name": "My 48 GB card", "kind": "gpu", "memory_gb": 48, "memory_bandwidth_gbs": 960,
                   "fp16_tflops": 150, "tdp_w": 300},
    }),
]
QUERY_EXAMPLES = [
    OpenApiParameter("model", OpenApiTypes.STR, description="Model slug or name.", required=True,
                     examples=[OpenApiExample("Llama 3.1 8B", value="llama-3-1-8b")]),
    OpenApiParameter("quantization", OpenApiTypes.STR, description="Quantization slug or name.", required=True,
                     examples=[OpenApiExample("Q4_K_M", value="q4-k-m")]),
    OpenApiParameter("device", OpenApiTypes.STR, description="Device slug or name.", required=True,
                     examples=[OpenApiExample("RTX 4090", value="nvidia-geforce-rtx-4090")]),
]


def plain_json(request) -> bool:
    """The answer is DRF's compact JSON (not the browsable API, not `; indent=` JSON)."""
    return type(request.accepted_renderer) is JSONRenderer and "indent" not in request.accepted_media_type


def encode_record(record: dict) -> bytes:
    return JSONRenderer().render(record)


def _computed(scenarios, catalog):
    return services.estimate_scenarios(scenarios=scenarios, catalog=catalog)


class EstimateView(APIView):
    """Does a model fit on a device, how fast does it run, at what cost."""

    # Asking for an estimate writes nothing: open to everyone (throttled when anonymous).
    permission_classes = [AllowAny]
    # Scenarios are nested objects: JSON only (a form cannot carry them).
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Estimate one scenario or a batch",
        request=PolymorphicProxySerializer(
            component_name="Estimate", resource_type_field_name=None,
            serializers=[serializers.ScenarioSerializer, serializers.EstimateBatchSerializer]),
        examples=EXAMPLES,
        responses={
            200: PolymorphicProxySerializer(
                component_name="EstimateResponse", resource_type_field_name=None,
                serializers=[result_serializers.EstimateResultSerializer, result_serializers.EstimateBatchResultSerializer]),
            400: OpenApiResponse(description="Each bad field and why (batch: under `scenarios`, by index)."),
        },
    )
    def post(self, request):
        data = request.data
        if isinstance(data, dict) and "scenarios" in data:
            batch = serializers.EstimateBatchSerializer(data=data)
            batch.is_valid(raise_exception=True)
            if plain_json(request):
                # Each result's JSON is kept with it: the answer is spliced from bytes, as the
                # renderer would write it, instead of encoding ~3 KB per scenario again.
                parts = estimates_cached(batch.validated_data["scenarios"], _computed, encode=encode_record)
                return HttpResponse(b'{"count":%d,"results":[%s]}' % (len(parts), b",".join(parts)),
                                    content_type=JSONRenderer.media_type)
            results = services.estimate_scenarios(scenarios=batch.validated_data["scenarios"])
            return Response({"count": len(results), "results": results})
        scenario = serializers.ScenarioSerializer(data=data)
        scenario.is_valid(raise_exception=True)
        return Response(services.estimate_one(scenario=scenario.validated_data))

    @extend_schema(
        summary="Estimate one scenario given as query parameters",
        parameters=[serializers.EstimateQuerySerializer, *QUERY_EXAMPLES],
        responses={200: result_serializers.EstimateResultSerializer, 400: OpenApiResponse(description="Each bad field and why.")},
    )
    @kept_answer
    def get(self, request):
        query = serializers.EstimateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(services.estimate_one(scenario=query.validated_data))


FORMAT_PARAMETER = OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"],
                                    description="csv: the whole table as CSV (not paginated).")


class CompatibilityView(APIView):
    """`GET <record>/compatibility/`: every device for a model, or every model for a device.

    JSON is paginated like the catalog lists; `?format=csv` gives the whole table in one file.
    Routed from hwfit/api_urls.py under the record's URL, so the catalog apps need not know the
    estimator.
    """

    # Reading a table writes nothing: open to everyone (throttled when anonymous).
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CompatibilityCSVRenderer]
    compatibility_of: str  # "model" or "device": which side the record in the URL is
    record_model: type[ModelArchitecture] | type[Device]
    lookup_example: str    # a seeded record, for the docs' "try it out" (hwfit/api_schema.py)

    @extend_schema(
        summary="Estimates against every device (for a model) or every model (for a device)",
        parameters=[
            serializers.CompatibilityQuerySerializer, FORMAT_PARAMETER, *PAGE_PARAMETERS,
            OpenApiParameter("quantization", OpenApiTypes.STR, examples=[OpenApiExample("Q4_K_M and Q8_0", value="q4-k-m,q8-0")],
                             description="Quantization slugs, comma-separated (default: every quantization)."),
        ],
        responses={
            (200, "application/json"): result_serializers.CompatibilityPageSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            400: OpenApiResponse(description="Each bad query parameter and why."),
        },
    )
    @kept_answer
    def get(self, request, slug: str, format: str | None = None):
        # The record is looked up in the catalog the table is computed from (kept in memory at the
        # version this request holds), not with a query of its own: a 404 as get_object_or_404's.
        catalog = services.catalog_current()
        if slug not in (catalog.models if self.compatibility_of == "model" else catalog.devices).slugs:
            raise Http404(f"No {self.record_model._meta.object_name} matches the given query.")
        query = serializers.CompatibilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        workload = dict(query.validated_data)
        table = services.compatibility(
            **{f"{self.compatibility_of}_slug": slug},
            quantizations=workload.pop("quantization", None), runtime=workload.pop("runtime", None),
            mode=workload.pop("mode", None), workload=workload,
        )
        if request.accepted_renderer.format == "csv":
            filename = f"hwfit-compatibility-{self.compatibility_of}-{slug}.csv"
            return Response(table[:], headers={"Content-Disposition": f'attachment; filename="{filename}"'})
        paginator = CatalogPagination()
        page = paginator.paginate_queryset(table, request, view=self)
        return paginator.get_paginated_response(page)

    def handle_exception(self, exc):
        # An error is JSON even when the table was asked for as CSV.
        if getattr(self.request, "accepted_renderer", None) is not None and self.request.accepted_renderer.format == "csv":
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


class ModelCompatibilityView(CompatibilityView):
    """One model on every device, for each quantization asked."""

    compatibility_of = "model"
    record_model = ModelArchitecture
    lookup_example = "llama-3-1-8b"


class DeviceCompatibilityView(CompatibilityView):
    """Every model on one device, for each quantization asked."""

    compatibility_of = "device"
    record_model = Device
    lookup_example = "nvidia-geforce-rtx-4090"
