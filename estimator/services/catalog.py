"""The catalog as the estimator reads it: one frame per table, loaded once per catalog version.

What every request would otherwise rebuild from those frames (the scenario frame's coded
columns, the cheapest prices, the rows as dicts) is derived once, on first use, and kept with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd
from django.db import models as db_models

from devices.models import Device
from estimator import selectors
from estimator.core import pipeline
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

    @cached_property
    def slugs(self) -> frozenset[str]:
        """Every row's slug (exactly as stored: a URL names its record by slug)."""
        return frozenset(self.frame["slug"].tolist())

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts (`DataFrame.to_dict("records")`), for the checks that read one row."""
        return self.frame.to_dict("records")


@dataclass
class Catalog:
    models: CatalogTable
    quantizations: CatalogTable
    devices: CatalogTable
    runtimes: list[str]
    offers: pd.DataFrame      # cloud offers naming a catalog device (device_slug, usd_per_hour, gpu_count, ...)
    prices: pd.DataFrame      # API prices naming a catalog model (model_slug, usd_per_1m_input, ...)
    calibrations: pd.DataFrame | None

    @cached_property
    def parts(self) -> pipeline.ScenarioParts:
        """The three tables as the scenario frame's columns, priced, coded once (`pipeline.scenarios_from_parts`)."""
        return pipeline.scenario_parts(self.models.frame, self.quantizations.frame, self.devices.frame,
                                      prices=self.price_tables)

    @cached_property
    def price_tables(self) -> pipeline.PriceTables:
        """The cheapest offer per device and API price per model, by slug."""
        return pipeline.price_tables(self.offers, self.prices)


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
