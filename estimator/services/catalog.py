"""The catalog as the estimator reads it: one frame per table, loaded once per request."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from django.db import models as db_models

from devices.models import Device
from estimator import selectors
from models_catalog.models import ModelArchitecture, QuantizationFormat


@dataclass
class CatalogTable:
    """One catalog table as a frame, with its rows findable by slug or by name."""

    kind: str
    model: type[db_models.Model]
    frame: pd.DataFrame
    fields: tuple[str, ...]
    by_key: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {}
        # Names first, slugs last: a slug always wins over another record's name.
        for column in ("name", "slug"):
            for position, value in enumerate(self.frame[column].tolist()):
                self.by_key[str(value).casefold()] = position

    def find(self, key: str) -> int | None:
        return self.by_key.get(key.strip().casefold())


@dataclass
class Catalog:
    models: CatalogTable
    quantizations: CatalogTable
    devices: CatalogTable
    runtimes: list[str]
    offers: pd.DataFrame      # cloud offers naming a catalog device (device_slug, usd_per_hour, gpu_count, ...)
    prices: pd.DataFrame      # API prices naming a catalog model (model_slug, usd_per_1m_input, ...)
    calibrations: pd.DataFrame | None


def catalog_load() -> Catalog:
    """Every table the estimator reads, one query each."""
    return Catalog(
        models=CatalogTable("model", ModelArchitecture, selectors.models_frame(), selectors.MODEL_FIELDS),
        quantizations=CatalogTable("quantization", QuantizationFormat, selectors.quantizations_frame(),
                                   selectors.QUANT_FIELDS),
        devices=CatalogTable("device", Device, selectors.devices_frame(), selectors.DEVICE_FIELDS),
        runtimes=selectors.runtime_slugs(),
        offers=selectors.cloud_offers_frame(),
        prices=selectors.api_prices_frame(),
        calibrations=selectors.calibrations_frame(),
    )
