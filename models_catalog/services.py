"""Writes to the catalog: importing the sourced CSVs.

The import is idempotent (records are matched by their natural key and updated in place, never
duplicated) and atomic (a record that fails validation aborts the whole import with its name and
the reason, so the catalog is never left half-written).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import models, transaction

from devices.models import CloudOffer, Device
from models_catalog import sources
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime


@dataclass
class ImportCounts:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def add(self, label: str, created: bool) -> None:
        bucket = self.created if created else self.updated
        bucket[label] = bucket.get(label, 0) + 1

    def summary(self) -> str:
        labels = sorted(set(self.created) | set(self.updated))
        return ", ".join(f"{label}: {self.created.get(label, 0)} created, {self.updated.get(label, 0)} updated" for label in labels)


class CatalogImportError(Exception):
    """A sourced row that the catalog's invariants reject, named with the reason."""


def _clean_value(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?")


def parse_as_of(text: str) -> dt.date | None:
    """The date an 'as of' text starts with (YYYY-MM-DD, or YYYY-MM as the 1st), else None."""
    match = _DATE.match(text or "")
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3) or 1))
    except ValueError:
        return None


def _upsert(model: type[models.Model], lookup: dict, values: dict, counts: ImportCounts, label: str) -> models.Model:
    fields = {f.name for f in model._meta.get_fields() if getattr(f, "concrete", False)}
    values = {key: _clean_value(value) for key, value in values.items() if key in fields and key not in lookup}
    instance = model.objects.filter(**lookup).first()
    created = instance is None
    if created:
        instance = model(**lookup)
    for key, value in values.items():
        setattr(instance, key, value)
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise CatalogImportError(f"{label} {lookup}: {exc.message_dict}") from exc
    instance.save()
    counts.add(label, created)
    return instance


def catalog_import(*, data_dir: Path | str) -> ImportCounts:
    """Create or update every catalog record from the CSVs in `data_dir`."""
    data_dir = Path(data_dir)
    if not (data_dir / "models.csv").exists():
        raise CatalogImportError(f"No models.csv in {data_dir}: point --data-dir at shared/data.")
    try:
        return _import_all(data_dir)
    except sources.SourceError as exc:
        raise CatalogImportError(f"{exc} — nothing was imported.") from exc


def _import_all(data_dir: Path) -> ImportCounts:
    counts = ImportCounts()
    models_frame = sources.load_models(data_dir)
    devices_frame = sources.load_devices(data_dir)
    with transaction.atomic():
        for record in models_frame.to_dict("records"):
            _upsert(ModelArchitecture, {"slug": record["slug"]}, record, counts, "models")
        for record in sources.load_quants(data_dir).to_dict("records"):
            _upsert(QuantizationFormat, {"slug": record["slug"]}, record, counts, "quantization formats")
        chips: dict[Device, str] = {}
        for record in devices_frame.to_dict("records"):
            chip_name = _clean_value(record.pop("chip_name", None))
            device = _upsert(Device, {"slug": record["slug"]}, record, counts, "devices")
            if chip_name:
                chips[device] = chip_name
        # Variants link to their chip once every chip row exists.
        by_name = {d.name: d for d in Device.objects.filter(name__in=set(chips.values()))}
        for device, chip_name in chips.items():
            if chip_name not in by_name:
                raise CatalogImportError(f"devices: {device.name} names the chip {chip_name!r}, which no device row has.")
            if device.chip_id != by_name[chip_name].pk:
                device.chip = by_name[chip_name]
                device.save(update_fields=["chip"])
        for record in sources.load_runtimes().to_dict("records"):
            _upsert(Runtime, {"slug": record["slug"]}, record, counts, "runtimes")
        devices_by_name = {d.name: d for d in Device.objects.all()}
        for record in sources.load_cloud_offers(data_dir, devices_by_name).to_dict("records"):
            record["device"] = devices_by_name.get(record.pop("device_name") or "")
            record["as_of_date"] = parse_as_of(record["as_of"])
            lookup = {key: record[key] for key in ("provider", "device_label", "gpu_count", "tier", "region_or_note")}
            _upsert(CloudOffer, lookup, record, counts, "cloud offers")
        models_by_name = {m.name: m for m in ModelArchitecture.objects.all()}
        for record in sources.load_api_prices(data_dir, models_by_name).to_dict("records"):
            record["model"] = models_by_name.get(record.pop("model_name") or "")
            record["as_of_date"] = parse_as_of(record["as_of"])
            _upsert(ApiPrice, {"provider": record["provider"], "model_label": record["model_label"]}, record, counts, "API prices")
    return counts
