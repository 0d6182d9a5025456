from django.contrib import admin
from django.urls import include, path

from devices import views as device_views
from models_catalog import views as model_views

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("models/", model_views.model_list, name="model-list"),
    path("models/<slug:slug>/", model_views.model_detail, name="model-detail"),
    path("devices/", device_views.device_list, name="device-list"),
    path("devices/<slug:slug>/", device_views.device_detail, name="device-detail"),
    path("admin/", admin.site.urls),
]
