"""The import page: read a config.json or a GGUF header and see the model it describes; staff save it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from models_catalog.import_forms import ModelImportForm
from models_catalog.models import ModelArchitecture

# Not shown in the preview: bookkeeping, and what the importers never fill.
_SKIP = ("id", "created_at", "updated_at", "notes", "derived_fields", "benchmark_scores")


def preview_rows(record: dict) -> list[tuple[str, object, bool]]:
    """(label, value, derived) for every field the importer filled, in the catalog's order."""
    derived = set(record.get("derived_fields") or [])
    rows = []
    for field in ModelArchitecture._meta.concrete_fields:
        value = record.get(field.name)
        if field.name in _SKIP or value in (None, "", False):
            continue
        shown = f"{value:.3f}" if field.name.endswith("_params_b") else value
        rows.append((str(field.verbose_name), shown, field.name in derived))
    return rows


def model_import(request: HttpRequest) -> HttpResponse:
    form = ModelImportForm(request.POST or None, request.FILES or None)
    context = {"form": form, "can_save": request.user.is_staff}
    if request.method == "POST" and form.is_valid():
        if "save" in request.POST and request.user.is_staff:
            model = form.save()
            if model is not None:
                return redirect("model-detail", slug=model.slug)
        context.update(rows=preview_rows(form.cleaned_data["record"]), gguf=form.cleaned_data["gguf"],
                       record=form.cleaned_data["record"])
    status = 400 if request.method == "POST" and form.errors else 200
    return render(request, "importers/model_import.html", context, status=status)
