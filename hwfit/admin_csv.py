"""Admin CSV export and import for every catalog (hwfit/catalog_csv.py does the work)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from hwfit.catalog_csv import csv_export, csv_import


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, the first row naming the columns (as an export writes).")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.HWFIT_CSV_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(f"The file is not UTF-8 text (byte {exc.start}).") from None


class CsvImportExportMixin:
    """Adds "Export CSV" (the changelist as filtered) and "Import CSV" (all rows or none) to a ModelAdmin.

    `csv_key` names a record in a file (its slug, or a price's natural key).
    """

    csv_key: tuple[str, ...] = ("slug",)
    change_list_template = "importers/admin/change_list.html"
    object_tools: tuple[tuple[str, str], ...] = ()  # (url suffix, label) shown beside the CSV buttons

    def _url_name(self, suffix: str) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_{suffix}"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export-csv/", wrap(self.csv_export_view), name=self._url_name("export_csv")),
            path("import-csv/", wrap(self.csv_import_view), name=self._url_name("import_csv")),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        tools = [(reverse(f"admin:{self._url_name(suffix)}"), label) for suffix, label in self.object_tools]
        extra = {"csv_export_url": reverse(f"admin:{self._url_name('export_csv')}"),
                 "csv_import_url": reverse(f"admin:{self._url_name('import_csv')}"), "extra_tools": tools}
        return super().changelist_view(request, extra_context={**(extra_context or {}), **extra})

    def csv_export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # The changelist's own filters and search: the file holds what the list shows.
        queryset = self.get_changelist_instance(request).get_queryset(request)
        response = StreamingHttpResponse(csv_export(queryset), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="hwfit-{self.model._meta.model_name}.csv"'
        return response

    def csv_import_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = CsvUploadForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            result = csv_import(self.model, form.cleaned_data["file"], key=self.csv_key,
                                published_facts=getattr(self, "published_facts", ()))
            if not result.errors:
                self.message_user(request, f"Imported: {result.created} created, {result.updated} updated.",
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"admin:{self._url_name('changelist')}"))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "result": result, "title": f"Import {self.model._meta.verbose_name_plural} from CSV",
                   "key": ", ".join(self.csv_key)}
        return TemplateResponse(request, "importers/admin/csv_import.html", context,
                                status=400 if result and result.errors else 200)


__all__ = ["CsvImportExportMixin", "admin"]
