"""Reads for the estimator: catalog tables as frames with the core's column names, one query each.

The core (estimator/core) takes plain DataFrames whose columns are `schema.py`'s; the catalog
models use the same field names, so a table is `.values(*columns)` and nothing is renamed here.
"""

from __future__ import annotations

import pandas as pd

from devices.models import CloudOffer, Device
from estimator.core.schema import DEVICE_COLUMNS, MODEL_COLUMNS, QUANT_COLUMNS
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime

# Beyond the core's columns: the model family (a name shown with results) and the device kinds a
# format runs on natively (the core marks other pairs `unsupported`).
MODEL_FIELDS = (*MODEL_COLUMNS, "family")
QUANT_FIELDS = (*QUANT_COLUMNS, "native_device_kinds")
DEVICE_FIELDS = tuple(DEVICE_COLUMNS)


def _frame(queryset, fields: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(queryset.values(*fields)), columns=list(fields))


def models_frame(*, slugs: list[str] | None = None) -> pd.DataFrame:
    queryset = ModelArchitecture.objects.order_by("name", "pk")
    if slugs is not None:
        queryset = queryset.filter(slug__in=slugs)
    return _frame(queryset, MODEL_FIELDS)


def quantizations_frame(*, slugs: list[str] | None = None) -> pd.DataFrame:
    queryset = QuantizationFormat.objects.order_by("-bits_per_weight", "name", "pk")
    if slugs is not None:
        queryset = queryset.filter(slug__in=slugs)
    return _frame(queryset, QUANT_FIELDS)


def devices_frame(*, slugs: list[str] | None = None) -> pd.DataFrame:
    queryset = Device.objects.order_by("vendor", "name", "pk")
    if slugs is not None:
        queryset = queryset.filter(slug__in=slugs)
    return _frame(queryset, DEVICE_FIELDS)


def runtime_slugs() -> list[str]:
    return list(Runtime.objects.order_by("slug").values_list("slug", flat=True))


def cloud_offers_frame() -> pd.DataFrame:
    """Offers naming a catalog device, as the core's cost module reads them (`device_slug`, ...)."""
    rows = CloudOffer.objects.filter(device__isnull=False).values(
        "device__slug", "usd_per_hour", "gpu_count", "provider", "tier", "as_of")
    frame = pd.DataFrame.from_records(list(rows), columns=["device__slug", "usd_per_hour", "gpu_count", "provider",
                                                           "tier", "as_of"])
    return frame.rename(columns={"device__slug": "device_slug"})


def api_prices_frame() -> pd.DataFrame:
    """Prices naming a catalog model, as the core's cost module reads them (`model_slug`, ...)."""
    rows = ApiPrice.objects.filter(model__isnull=False).values(
        "model__slug", "usd_per_1m_input", "usd_per_1m_output", "provider", "as_of")
    frame = pd.DataFrame.from_records(list(rows), columns=["model__slug", "usd_per_1m_input", "usd_per_1m_output",
                                                           "provider", "as_of"])
    return frame.rename(columns={"model__slug": "model_slug"})


CALIBRATION_COLUMNS = ["device_slug", "runtime", "eff_m", "eff_c", "eff_attn", "t_fixed", "t_layer_s", "error_pct",
                       "error_p10_pct", "error_p90_pct", "fit_id"]


def calibrations_frame() -> pd.DataFrame | None:
    """The newest accepted calibration fit per (device, runtime): `priors.resolve`'s frame, one query.

    Estimates of a pair with a row here use its efficiencies and say `calibrated: true` with its
    cross-validated median error as the band. None when nothing is calibrated yet.
    """
    from estimator.models import CalibrationFit

    rows = (CalibrationFit.objects.filter(accepted=True)
            .order_by("-created_at", "-pk")
            .values("device__slug", "runtime__slug", "eff_m", "eff_c", "eff_attn", "t_fixed_s", "t_layer_s",
                    "error_median_pct", "error_p10_pct", "error_p90_pct", "pk"))
    records = [(r["device__slug"], r["runtime__slug"], r["eff_m"], r["eff_c"], r["eff_attn"], r["t_fixed_s"],
                r["t_layer_s"], r["error_median_pct"], r["error_p10_pct"], r["error_p90_pct"], r["pk"]) for r in rows]
    if not records:
        return None
    # Newest first: the first row of each pair wins (portable; DISTINCT ON is PostgreSQL's).
    frame = pd.DataFrame.from_records(records, columns=CALIBRATION_COLUMNS)
    return frame.drop_duplicates(["device_slug", "runtime"], keep="first").reset_index(drop=True)
