"""Bring your own model, Django side: uploads read within their size limits, records validated and saved.

The importers (`models_catalog/importers`) are pure; this module is what the page, the admin and the
API share: an upload is checked against its size setting before it is read, parsed as JSON or as a
GGUF header only (nothing in it is executed), and a record is saved after the same `full_clean()`
an admin edit gets.
"""

from __future__ import annotations

import tempfile
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from models_catalog.importers.gguf_file import GGUFImportError, gguf_read
from models_catalog.importers.hf_config import ConfigImportError, architecture_from_config, config_from_text
from models_catalog.models import ModelArchitecture


def _too_big(upload: UploadedFile, limit: int, what: str) -> str | None:
    if upload.size is not None and upload.size > limit:
        return f"The {what} is {upload.size:,} bytes; the limit is {limit:,} bytes."
    return None


def config_text_read(*, text: str | bytes) -> dict[str, Any]:
    """Pasted config.json text -> its architecture record (raises ConfigImportError)."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > settings.HWFIT_CONFIG_MAX_BYTES:
        raise ConfigImportError(f"The config.json is {size:,} bytes; the limit is {settings.HWFIT_CONFIG_MAX_BYTES:,} bytes.")
    return config_from_text(text)


def config_upload_read(*, upload: UploadedFile) -> dict[str, Any]:
    """An uploaded config.json -> the parsed JSON object, refused unread when over the limit."""
    problem = _too_big(upload, settings.HWFIT_CONFIG_MAX_BYTES, "config.json")
    if problem:
        raise ConfigImportError(problem)
    return config_from_text(upload.read(settings.HWFIT_CONFIG_MAX_BYTES + 1))


def gguf_upload_read(*, upload: UploadedFile) -> dict[str, Any]:
    """An uploaded GGUF (whole, or its first megabytes) -> `gguf_read`'s summary, header only."""
    problem = _too_big(upload, settings.HWFIT_GGUF_UPLOAD_MAX_BYTES, "GGUF upload")
    if problem:
        raise GGUFImportError(problem + " Only the header is read: upload the start of the file "
                              "(e.g. `head -c 32M model.gguf > header.gguf`).")
    path = getattr(upload, "temporary_file_path", None)
    if path is not None:
        return gguf_read(path(), header_only=True)
    with tempfile.NamedTemporaryFile(suffix=".gguf") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        return gguf_read(handle.name, header_only=True)


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


__all__ = ["architecture_build", "architecture_save", "architecture_from_config", "config_text_read",
           "config_upload_read", "gguf_upload_read", "ConfigImportError", "GGUFImportError", "ValidationError"]
