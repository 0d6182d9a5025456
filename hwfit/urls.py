from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from devices import views as device_views
from models_catalog import import_views
from models_catalog import views as model_views

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("models/", model_views.model_list, name="model-list"),
    # Before the detail route, which would read "import" as a slug.
    path("models/import/", import_views.model_import, name="model-import"),
    path("models/<slug:slug>/", model_views.model_detail, name="model-detail"),
    path("devices/", device_views.device_list, name="device-list"),
    path("devices/<slug:slug>/", device_views.device_detail, name="device-detail"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(("hwfit.api_urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# Unknown URLs under /api/ answer JSON like the API; the pages keep the HTML page.
handler404 = "hwfit.api_errors.not_found"
