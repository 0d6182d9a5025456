"""The model admin's "Import config.json" view, beside the CSV import and export every catalog has."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from hwfit.admin_csv import CsvImportExportMixin
from models_catalog.import_forms import ModelImportForm
from models_catalog.import_views import preview_rows


class ModelImportAdminMixin(CsvImportExportMixin):
    object_tools = (("import_config", "Import config.json"),)

    def get_urls(self):
        return [path("import-config/", self.admin_site.admin_view(self.import_config_view),
                     name=self._url_name("import_config")), *super().get_urls()]

    def import_config_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ModelImportForm(request.POST or None, request.FILES or None)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "title": "Import a model from config.json"}
        if request.method == "POST" and form.is_valid():
            if "save" in request.POST:
                model = form.save()
                if model is not None:
                    self.message_user(request, f"Imported {model.name} ({model.total_params_b:.2f}B parameters).",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse(f"admin:{self._url_name('change')}", args=[model.pk]))
            else:
                context.update(rows=preview_rows(form.cleaned_data["record"]), record=form.cleaned_data["record"])
        status = 400 if request.method == "POST" and form.errors else 200
        return TemplateResponse(request, "importers/admin/model_import.html", context, status=status)
