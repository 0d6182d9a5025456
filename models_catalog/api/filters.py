"""Query-string filters of the catalog endpoints. Parameter counts are in billions, as stored."""

from __future__ import annotations

import django_filters as filters

from hwfit.api_base import StrictBooleanFilter
from models_catalog.models import ApiPrice, GenerationMode, ModelArchitecture, QuantizationFormat


class ModelArchitectureFilter(filters.FilterSet):
    family = filters.CharFilter(lookup_expr="iexact")
    org = filters.CharFilter(lookup_expr="iexact")
    generation_mode = filters.ChoiceFilter(choices=GenerationMode.choices)
    min_params = filters.NumberFilter(field_name="total_params_b", lookup_expr="gte",
                                      label="Total parameters at least (billions)")
    max_params = filters.NumberFilter(field_name="total_params_b", lookup_expr="lte",
                                      label="Total parameters at most (billions)")
    min_active_params = filters.NumberFilter(field_name="active_params_b", lookup_expr="gte",
                                             label="Active parameters at least (billions; MoE models only)")
    max_active_params = filters.NumberFilter(field_name="active_params_b", lookup_expr="lte",
                                             label="Active parameters at most (billions; MoE models only)")
    min_context = filters.NumberFilter(field_name="max_context", lookup_expr="gte", label="Context window at least (tokens)")
    is_moe = StrictBooleanFilter(field_name="n_experts", lookup_expr="isnull", exclude=True,
                                   label="Mixture of experts (has routed experts)")

    class Meta:
        model = ModelArchitecture
        fields = ["family", "org", "generation_mode", "diffusion_attention"]


class QuantizationFormatFilter(filters.FilterSet):
    min_bits = filters.NumberFilter(field_name="bits_per_weight", lookup_expr="gte", label="Bits per weight at least")
    max_bits = filters.NumberFilter(field_name="bits_per_weight", lookup_expr="lte", label="Bits per weight at most")

    class Meta:
        model = QuantizationFormat
        fields = ["family", "compute_dtype", "quality_tier"]


class ApiPriceFilter(filters.FilterSet):
    provider = filters.CharFilter(lookup_expr="iexact")
    model = filters.CharFilter(field_name="model__slug", label="Catalog model slug")

    class Meta:
        model = ApiPrice
        fields = ["provider", "model"]
