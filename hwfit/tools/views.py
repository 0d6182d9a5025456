"""The tools' pages: thin views over the page services of this package."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from devices.models import CloudOffer, Device, DeviceKind
from hwfit.tools import calculator as calc
from hwfit.tools.compare import compare_page
from hwfit.tools.detect import device_candidates
from hwfit.tools.search import DEVICE_SORTS, MODEL_SORTS, catalog_search, device_listing, model_listing, sort_columns
from models_catalog.models import ApiPrice, GenerationMode, ModelArchitecture, QuantizationFormat, Runtime


def calculator(request: HttpRequest) -> HttpResponse:
    page = calc.calculator_page(request.GET)
    context = {"page": page}
    if page.record is not None:
        record = page.record
        count = record["workload"]["device_count"] or 1
        parts, usable_at = calc.memory_parts(record["memory"], count)
        context.update(
            verdict=calc.verdict_text(record), memory_parts=parts, usable_at=usable_at,
            memory_total=calc.per_device_bytes(record["memory"], count),
            api_query=calc.api_query(request.GET, record), batch_costs=calc.batch_costs(record),
        )
    return render(request, "tools/calculator.html", context, status=400 if page.errors else 200)


def compare(request: HttpRequest) -> HttpResponse:
    page = compare_page(request.GET)
    return render(request, "tools/compare.html", {"page": page}, status=400 if page.errors else 200)


def home(request: HttpRequest) -> HttpResponse:
    counts = {
        "models": ModelArchitecture.objects.count(),
        "quantization formats": QuantizationFormat.objects.count(),
        "devices": Device.objects.count(),
        "runtimes": Runtime.objects.count(),
        "cloud offers": CloudOffer.objects.count(),
        "API prices": ApiPrice.objects.count(),
    }
    devices = Device.objects.order_by("vendor", "name").values_list("slug", "name", "vendor")
    return render(request, "home.html", {"counts": counts, "device_groups": _by_vendor(devices)})


def _by_vendor(devices) -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for slug, name, vendor in devices:
        groups.setdefault(vendor, []).append((slug, name))
    return list(groups.items())


def search(request: HttpRequest) -> HttpResponse:
    results = catalog_search(request.GET.get("q", ""))
    return render(request, "tools/search.html", {"results": results})


def device_pick(request: HttpRequest) -> HttpResponse:
    """The home page's "pick your device" form: to that device's page (works without JavaScript)."""
    slug = request.GET.get("device", "").strip()
    if slug and Device.objects.filter(slug=slug[:80]).exists():
        return redirect("device-detail", slug=slug)
    return redirect(f"{reverse('device-list')}?{urlencode({'q': slug[:100]})}" if slug else reverse("device-list"))


def device_list(request: HttpRequest) -> HttpResponse:
    listing = device_listing(request.GET)
    vendors = Device.objects.order_by("vendor").values_list("vendor", flat=True).distinct()
    return render(request, "tools/device_list.html",
                  {"listing": listing, "vendors": vendors, "kinds": DeviceKind.choices,
                   "columns": sort_columns(DEVICE_SORTS, ("name", "vendor"))},
                  status=400 if listing.errors else 200)


def model_list(request: HttpRequest) -> HttpResponse:
    listing = model_listing(request.GET)
    families = ModelArchitecture.objects.exclude(family="").order_by("family").values_list("family", flat=True).distinct()
    return render(request, "tools/model_list.html",
                  {"listing": listing, "families": families, "modes": GenerationMode.choices,
                   "columns": sort_columns(MODEL_SORTS, ("name", "family"))},
                  status=400 if listing.errors else 200)


def detect(request: HttpRequest) -> JsonResponse:
    """Catalog devices matching what the browser reports about its GPU (static/js/detect.js)."""
    report = " ".join(request.GET.get(name, "") for name in ("renderer", "vendor", "architecture", "description"))
    devices = Device.objects.values_list("slug", "name")
    candidates = device_candidates(report, devices)
    return JsonResponse({"candidates": [
        {"slug": c.slug, "name": c.name, "url": reverse("device-detail", args=[c.slug])} for c in candidates]})
