"""Saving what a config.json or GGUF importer read: one model architecture, validated like an admin edit."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from models_catalog.models import ModelArchitecture


def architecture_build(*, record: dict[str, Any]) -> ModelArchitecture:
    """An unsaved ModelArchitecture from an importer's record, `full_clean()`ed (raises ValidationError)."""
    fields = {f.name for f in ModelArchitecture._meta.concrete_fields} - {"id", "created_at", "updated_at"}
    model = ModelArchitecture(**{key: value for key, value in record.items() if key in fields})
    model.full_clean()
    return model


def architecture_save(*, record: dict[str, Any]) -> ModelArchitecture:
    """Validate and insert a new model; an existing name or slug is an error, never overwritten."""
    with transaction.atomic():
        model = architecture_build(record=record)
        model.save()
    return model


__all__ = ["architecture_build", "architecture_save", "ValidationError"]
