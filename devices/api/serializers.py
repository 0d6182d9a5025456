"""Devices and cloud offers as the API shows them: the catalog's own field names."""

from __future__ import annotations

from rest_framework import serializers

from devices.models import CloudOffer, Device
from hwfit.api_base import CleanedModelSerializer

PROVENANCE_READ_ONLY = ("created_at", "updated_at")


class DeviceSerializer(CleanedModelSerializer):
    usable_memory_gb = serializers.FloatField(read_only=True, allow_null=True,
                                              help_text="memory_gb x usable_memory_fraction.")

    class Meta:
        model = Device
        exclude = ("id",)
        read_only_fields = PROVENANCE_READ_ONLY


class CloudOfferSerializer(CleanedModelSerializer):
    device = serializers.SlugRelatedField(
        slug_field="slug", queryset=Device.objects.all(), allow_null=True, required=False,
        help_text="Slug of the catalog device, when the offer names exactly one.",
    )
    usd_per_gpu_hour = serializers.FloatField(read_only=True)

    class Meta:
        model = CloudOffer
        fields = "__all__"
        # As in the admin: the date is parsed from `as_of` by the import, not edited in place.
        read_only_fields = ("as_of_date", *PROVENANCE_READ_ONLY)
