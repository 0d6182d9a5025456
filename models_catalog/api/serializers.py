"""Catalog records as the API shows them: the catalog's own field names (estimator/core/schema.py)."""

from __future__ import annotations

from rest_framework import serializers

from hwfit.api_base import CleanedModelSerializer
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime

PROVENANCE_READ_ONLY = ("created_at", "updated_at")


class ModelArchitectureSerializer(CleanedModelSerializer):
    is_moe = serializers.BooleanField(read_only=True)

    class Meta:
        model = ModelArchitecture
        exclude = ("id",)
        read_only_fields = PROVENANCE_READ_ONLY


class QuantizationFormatSerializer(CleanedModelSerializer):
    class Meta:
        model = QuantizationFormat
        exclude = ("id",)
        read_only_fields = PROVENANCE_READ_ONLY


class RuntimeSerializer(CleanedModelSerializer):
    class Meta:
        model = Runtime
        exclude = ("id",)
        read_only_fields = PROVENANCE_READ_ONLY


class ApiPriceSerializer(CleanedModelSerializer):
    model = serializers.SlugRelatedField(
        slug_field="slug", queryset=ModelArchitecture.objects.all(), allow_null=True, required=False,
        help_text="Slug of the catalog model, when the provider's model is one.",
    )
    blended_usd_per_1m = serializers.FloatField(read_only=True, help_text="70% input / 30% output.")

    class Meta:
        model = ApiPrice
        fields = "__all__"
        # As in the admin: the date is parsed from `as_of` by the import, not edited in place.
        read_only_fields = ("as_of_date", *PROVENANCE_READ_ONLY)
