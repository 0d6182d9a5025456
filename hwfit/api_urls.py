"""The REST API, mounted at /api/v1/ (hwfit/urls.py)."""

from __future__ import annotations

from django.urls import path, re_path
from rest_framework.reverse import reverse
from rest_framework.routers import APIRootView, DefaultRouter
from rest_framework.urlpatterns import format_suffix_patterns

from devices.api.views import CloudOfferViewSet, DeviceViewSet
from estimator.api.calibration import (
    AccuracyView, CalibrationFitViewSet, CalibrationRunViewSet, MeasuredRunViewSet, WorkerViewSet,
)
from estimator.api.views import DeviceCompatibilityView, EstimateView, ModelCompatibilityView
from hwfit.api_base import SLUG
from models_catalog.api.imports import ImportConfigView
from models_catalog.api.views import ApiPriceViewSet, ModelArchitectureViewSet, QuantizationFormatViewSet, RuntimeViewSet


class ApiRoot(APIRootView):
    """hwfit's REST API: the catalogs (read by anyone, edited by staff), estimates and compatibility tables.

    Interactive docs: /api/docs/ — OpenAPI 3 schema: /api/schema/.
    """

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response.data["estimate"] = reverse("api:estimate", request=request, format=kwargs.get("format"))
        response.data["accuracy"] = reverse("api:accuracy", request=request, format=kwargs.get("format"))
        return response


class Router(DefaultRouter):
    APIRootView = ApiRoot


router = Router()
router.register("models", ModelArchitectureViewSet, basename="model")
router.register("quantizations", QuantizationFormatViewSet, basename="quantization")
router.register("devices", DeviceViewSet, basename="device")
router.register("runtimes", RuntimeViewSet, basename="runtime")
router.register("cloud-offers", CloudOfferViewSet, basename="cloud-offer")
router.register("api-prices", ApiPriceViewSet, basename="api-price")
# Calibration (estimator/api/calibration.py).
router.register("calibrations", CalibrationRunViewSet, basename="calibration")
router.register("fits", CalibrationFitViewSet, basename="fit")
router.register("workers", WorkerViewSet, basename="worker")
router.register("measured-runs", MeasuredRunViewSet, basename="measured-run")

# The estimator's tables under the catalog records' URLs (named as a router action would be).
compatibility = format_suffix_patterns([
    re_path(rf"^models/(?P<slug>{SLUG})/compatibility/$", ModelCompatibilityView.as_view(), name="model-compatibility"),
    re_path(rf"^devices/(?P<slug>{SLUG})/compatibility/$", DeviceCompatibilityView.as_view(), name="device-compatibility"),
])

urlpatterns = [
    path("estimate/", EstimateView.as_view(), name="estimate"),
    path("accuracy/", AccuracyView.as_view(), name="accuracy"),
    # Before the router: "import-config" would otherwise be read as a model's slug.
    path("models/import-config/", ImportConfigView.as_view(), name="model-import-config"),
    *compatibility,
    *router.urls,
]
