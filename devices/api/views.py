from __future__ import annotations

from rest_framework import viewsets

from devices.api import filters, serializers
from devices.models import CloudOffer, Device
from hwfit.api_base import SLUG


class DeviceViewSet(viewsets.ModelViewSet):
    """Devices: GPUs, Apple silicon, TPUs, CPUs and NPUs with their published capacities."""

    queryset = Device.objects.all()
    serializer_class = serializers.DeviceSerializer
    filterset_class = filters.DeviceFilter
    lookup_field = "slug"
    lookup_value_regex = SLUG
    lookup_example = "nvidia-geforce-rtx-4090"
    search_fields = ["name", "slug", "vendor"]
    ordering_fields = ["name", "vendor", "memory_gb", "memory_bandwidth_gbs", "fp16_tflops", "bf16_tflops",
                       "fp8_tflops", "tdp_w", "launch_year", "launch_price_usd"]
    ordering = ["vendor", "name"]


class CloudOfferViewSet(viewsets.ModelViewSet):
    """Cloud rental offers as published. Looked up by id (offers have no slug)."""

    queryset = CloudOffer.objects.select_related("device")
    serializer_class = serializers.CloudOfferSerializer
    filterset_class = filters.CloudOfferFilter
    lookup_value_regex = r"\d+"
    lookup_example = 1
    search_fields = ["provider", "device_label", "device__name"]
    ordering_fields = ["usd_per_hour", "provider", "gpu_count", "as_of_date"]
    ordering = ["usd_per_hour"]
