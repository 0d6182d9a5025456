from __future__ import annotations

from rest_framework import viewsets

from hwfit.api_base import SLUG
from models_catalog.api import filters, serializers
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime


class ModelArchitectureViewSet(viewsets.ModelViewSet):
    """Model architectures: what the estimator needs to size and time a model."""

    queryset = ModelArchitecture.objects.all()
    serializer_class = serializers.ModelArchitectureSerializer
    filterset_class = filters.ModelArchitectureFilter
    lookup_field = "slug"
    lookup_value_regex = SLUG
    lookup_example = "llama-3-1-8b"
    search_fields = ["name", "slug", "family", "org", "hf_repo"]
    ordering_fields = ["name", "family", "total_params_b", "active_params_b", "max_context", "n_layers",
                       "hidden_size", "n_experts", "created_at", "updated_at"]
    ordering = ["name"]


class QuantizationFormatViewSet(viewsets.ModelViewSet):
    """Quantization formats: effective bits per weight and the dtype the kernels compute in."""

    queryset = QuantizationFormat.objects.all()
    serializer_class = serializers.QuantizationFormatSerializer
    filterset_class = filters.QuantizationFormatFilter
    lookup_field = "slug"
    lookup_value_regex = SLUG
    lookup_example = "q4-k-m"
    search_fields = ["name", "slug", "family"]
    ordering_fields = ["name", "family", "bits_per_weight", "ppl_delta"]
    ordering = ["-bits_per_weight", "name"]


class RuntimeViewSet(viewsets.ModelViewSet):
    """Runtimes: the software that runs a model (calibration transfers only within one)."""

    queryset = Runtime.objects.all()
    serializer_class = serializers.RuntimeSerializer
    lookup_field = "slug"
    lookup_value_regex = SLUG
    lookup_example = "llama-cpp"
    search_fields = ["name", "slug"]
    ordering_fields = ["name", "slug"]
    ordering = ["name"]


class ApiPriceViewSet(viewsets.ModelViewSet):
    """Hosted API prices per million tokens, as published. Looked up by id (prices have no slug)."""

    queryset = ApiPrice.objects.select_related("model")
    serializer_class = serializers.ApiPriceSerializer
    filterset_class = filters.ApiPriceFilter
    lookup_value_regex = r"\d+"
    lookup_example = 1
    search_fields = ["provider", "model_label", "model__name"]
    ordering_fields = ["provider", "model_label", "usd_per_1m_input", "usd_per_1m_output", "as_of_date"]
    ordering = ["provider", "model_label"]
