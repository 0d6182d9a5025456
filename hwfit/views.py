from django.shortcuts import render

from devices.models import CloudOffer, Device
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime


def home(request):
    counts = {
        "models": ModelArchitecture.objects.count(),
        "quantization formats": QuantizationFormat.objects.count(),
        "devices": Device.objects.count(),
        "runtimes": Runtime.objects.count(),
        "cloud offers": CloudOffer.objects.count(),
        "API prices": ApiPrice.objects.count(),
    }
    return render(request, "home.html", {"counts": counts})
