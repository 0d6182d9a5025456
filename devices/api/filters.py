"""Query-string filters of the device endpoints, in catalog units (GB, GB/s, $/h)."""

from __future__ import annotations

import django_filters as filters

from devices.models import CloudOffer, Device, DeviceKind


class DeviceFilter(filters.FilterSet):
    vendor = filters.CharFilter(lookup_expr="iexact")
    kind = filters.ChoiceFilter(choices=DeviceKind.choices)
    min_memory_gb = filters.NumberFilter(field_name="memory_gb", lookup_expr="gte", label="Memory at least (GB)")
    min_bandwidth_gbs = filters.NumberFilter(field_name="memory_bandwidth_gbs", lookup_expr="gte",
                                             label="Memory bandwidth at least (GB/s)")
    min_launch_year = filters.NumberFilter(field_name="launch_year", lookup_expr="gte")
    max_launch_year = filters.NumberFilter(field_name="launch_year", lookup_expr="lte")

    class Meta:
        model = Device
        fields = ["vendor", "kind"]


class CloudOfferFilter(filters.FilterSet):
    provider = filters.CharFilter(lookup_expr="iexact")
    device = filters.CharFilter(field_name="device__slug", label="Catalog device slug")
    vendor = filters.CharFilter(field_name="device__vendor", lookup_expr="iexact", label="Vendor of the catalog device")
    max_usd_per_hour = filters.NumberFilter(field_name="usd_per_hour", lookup_expr="lte")

    class Meta:
        model = CloudOffer
        fields = ["provider", "device", "tier", "gpu_count"]
