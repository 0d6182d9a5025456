from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from devices import views as device_views
from models_catalog import import_views
from models_catalog import views as model_views

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
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# Unknown URLs under /api/ answer JSON like the API; the pages keep the HTML page.
handler404 = "hwfit.api_errors.not_found"
