from django.shortcuts import get_object_or_404, render

from hwfit.catalog_pages import field_rows, public_source
from hwfit.pages import charts
from hwfit.pages.controls import FormField, controls_from_query, form_fields
from hwfit.pages.selectors import device_page

from .models import Device, DeviceKind

DEVICE_FIELDS = (
    ("Identity", (("vendor", ""), ("kind", ""), ("launch_year", ""), ("launch_price_usd", "$"), ("tdp_w", "W"))),
    ("Memory", (("memory_gb", "GB"), ("memory_bandwidth_gbs", "GB/s"), ("usable_memory_fraction", ""))),
    ("Dense peaks", (("fp32_tflops", "TFLOPS"), ("fp16_tflops", "TFLOPS"), ("bf16_tflops", "TFLOPS"),
                     ("fp8_tflops", "TFLOPS"), ("int8_tops", "TOPS"), ("fp4_tflops", "TFLOPS"),
                     ("shader_fp16_tflops", "TFLOPS"))),
    # NVIDIA SMs, AMD CUs or Intel Xe cores x clock bound batch-1 decoding's bytes/s (docs/estimator.md
    # "Issue-rate ceiling"). Apple GPU cores are in the device name.
    ("Compute units", (("compute_units", ""), ("boost_clock_mhz", "MHz"))),
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
    """What runs on this device: every catalog model at the form's quantization and workload."""
    device = get_object_or_404(Device, slug=slug)
    controls = controls_from_query(request.GET)
    page = device_page(device=device, controls=controls)
    families = (("", "all families"), *((family, family) for family in page.families))
    fields = form_fields(
        controls, request.GET, quantizations=[(q["slug"], q["name"]) for q in page.choices.quantizations],
        runtimes=[(r["slug"], r["name"]) for r in page.choices.runtimes],
        runtime_default=", ".join(page.runtimes) or "per format and device kind",
        extra=(FormField(name="family", label="Model family", kind="select", options=families, value=controls.family),))
    if controls.quantization == "" and page.quantization:
        fields[0] = FormField(name="quantization", label="Quantization", kind="select", options=fields[0].options,
                              value=page.quantization["slug"])
    others: dict[str, list[tuple[str, str]]] = {}
    for other_slug, name, vendor in Device.objects.order_by("vendor", "name").values_list("slug", "name", "vendor"):
        others.setdefault(vendor, []).append((other_slug, name))
    context = {
        "device": device, "groups": field_rows(device, DEVICE_FIELDS), "source": public_source(device.source),
        "device_groups": list(others.items()),
        "page": page, "controls": controls, "fields": fields, "offers": page.offers,
        "roofline": charts.roofline(page.rows) if page.rows else None,
    }
    return render(request, "devices/device_detail.html", context, status=400 if controls.errors else 200)
