from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from devices import views as device_views
from models_catalog import import_views
from models_catalog import views as model_views

from . import health
from .tools import views as tool_views

# The admin says whose it is (not "Django administration").
admin.site.site_header = "hwfit"
admin.site.site_title = "hwfit admin"
admin.site.index_title = "Catalog and calibration"

urlpatterns = [
    path("", tool_views.home, name="home"),
    path("search/", tool_views.search, name="search"),
    path("detect/", tool_views.detect, name="detect"),
    path("models/", tool_views.model_list, name="model-list"),
    # Before the detail route, which would read "import" as a slug.
    path("models/import/", import_views.model_import, name="model-import"),
    path("models/<slug:slug>/", model_views.model_detail, name="model-detail"),
    path("devices/", tool_views.device_list, name="device-list"),
    path("devices/pick/", tool_views.device_pick, name="device-pick"),
    path("devices/<slug:slug>/", device_views.device_detail, name="device-detail"),
    path("calibration/", include("estimator.urls")),
    path("calculator/", tool_views.calculator, name="calculator"),
    path("compare/", tool_views.compare, name="compare"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(("hwfit.api_urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("healthz/", health.healthz, name="healthz"),
    path("readyz/", health.readyz, name="readyz"),
]

# Unknown URLs under /api/ answer JSON like the API; the pages keep the HTML page.
handler404 = "hwfit.api_errors.not_found"
# A database outage outside a view is a 503 too; other errors keep Django's page (JSON for the API).
handler500 = "hwfit.api_errors.server_error"
