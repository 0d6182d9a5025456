from django.contrib import admin

from hwfit.admin_base import PublishedPriceAdmin
from hwfit.admin_csv import CsvImportExportMixin

from .models import CloudOffer, Device



@admin.register(Device)
class DeviceAdmin(CsvImportExportMixin, admin.ModelAdmin):
    list_display = ("name", "vendor", "kind", "memory_gb", "memory_bandwidth_gbs", "bf16_tflops", "fp8_tflops",
                    "tdp_w", "launch_year")
    list_filter = ("kind", "vendor", "launch_year")
    search_fields = ("name", "slug", "vendor")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "slug", "vendor", "kind", "launch_year", "launch_price_usd", "tdp_w")}),
        ("Memory", {"fields": ("memory_gb", "memory_options_gb", "memory_bandwidth_gbs", "usable_memory_fraction")}),
        ("Dense peaks", {"fields": ("fp32_tflops", "fp16_tflops", "bf16_tflops", "fp16_peak_basis", "fp8_tflops",
                                    "int8_tops", "fp4_tflops", "shader_fp16_tflops")}),
        ("Compute units", {"fields": ("compute_units", "boost_clock_mhz", "chip", "gpu_cores")}),
        ("Links", {"fields": ("interconnect", "interconnect_gbs", "host_bandwidth_gbs")}),
        ("Provenance", {"fields": ("source", "derived_fields", "notes", "created_at", "updated_at")}),
    )


@admin.register(CloudOffer)
class CloudOfferAdmin(CsvImportExportMixin, PublishedPriceAdmin):
    csv_key = ("provider", "device_label", "gpu_count", "tier", "region_or_note")
    list_display = ("provider", "device_label", "device", "gpu_count", "usd_per_hour", "tier", "as_of")
    list_filter = ("provider", "tier", "device__vendor")
    search_fields = ("provider", "device_label", "device__name")
    list_select_related = ("device",)
    autocomplete_fields = ("device",)
    published_facts = ("usd_per_hour", "gpu_count", "tier", "as_of", "source")
