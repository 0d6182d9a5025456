"""Calibration pages, mounted at /calibration/ (hwfit/urls.py)."""

from django.urls import path

from estimator import views

urlpatterns = [
    path("", views.calibration_home, name="calibration-home"),
    path("request/", views.calibration_request, name="calibration-request"),
    path("runs/<int:pk>/", views.calibration_run, name="calibration-run"),
    path("fits/<int:pk>/", views.calibration_fit, name="calibration-fit"),
]
