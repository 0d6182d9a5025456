from django.shortcuts import get_object_or_404, render

from hwfit.catalog_pages import field_rows

from .models import Device, DeviceKind

DEVICE_FIELDS = (
    ("Identity", (("vendor", ""), ("kind", ""), ("launch_year", ""), ("launch_price_usd", "$"), ("tdp_w", "W"))),
    ("Memory", (("memory_gb", "GB"), ("memory_bandwidth_gbs", "GB/s"), ("usable_memory_fraction", ""))),
    ("Dense peaks", (("fp32_tflops", "TFLOPS"), ("fp16_tflops", "TFLOPS"), ("bf16_tflops", "TFLOPS"),
                     ("fp8_tflops", "TFLOPS"), ("int8_tops", "TOPS"), ("fp4_tflops", "TFLOPS"),
                     ("shader_fp16_tflops", "TFLOPS"))),
    ("Links", (("interconnect", ""), ("interconnect_gbs", "GB/s"), ("host_bandwidth_gbs", "GB/s"))),
)


def device_list(request):
    devices = Device.objects.only("name", "slug", "vendor", "kind", "memory_gb", "memory_bandwidth_gbs", "bf16_tflops", "fp16_tflops")
    kind = request.GET.get("kind")
    if kind and kind not in DeviceKind.values:
        # Said on the page, never sent to the database (PostgreSQL refuses a NUL byte with a 500).
        error = f"Unknown kind {kind!r}: one of {', '.join(DeviceKind.values)}."
        return render(request, "devices/device_list.html", {"devices": devices.none(), "error": error}, status=400)
    if kind:
        devices = devices.filter(kind=kind)
    return render(request, "devices/device_list.html", {"devices": devices, "kind": kind})


def device_detail(request, slug: str):
    device = get_object_or_404(Device, slug=slug)
    offers = device.cloud_offers.all()
    return render(request, "devices/device_detail.html",
                  {"device": device, "groups": field_rows(device, DEVICE_FIELDS), "offers": offers})
