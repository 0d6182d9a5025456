"""Devices (GPUs, Apple silicon, TPUs, CPUs, NPUs) and cloud rental offers."""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from hwfit.catalog_base import FLOAT_MAX, SourcedRecord, positive_constraints, positive_errors


class DeviceKind(models.TextChoices):
    GPU = "gpu", "GPU"
    APPLE = "apple", "Apple unified memory"
    TPU = "tpu", "TPU"
    CPU = "cpu", "CPU"
    NPU = "npu", "NPU"


_DEVICE_POSITIVE = (
    "memory_gb", "memory_bandwidth_gbs", "fp32_tflops", "fp16_tflops", "bf16_tflops", "fp8_tflops",
    "int8_tops", "fp4_tflops", "shader_fp16_tflops", "tdp_w", "launch_price_usd", "interconnect_gbs",
    "host_bandwidth_gbs", "boost_clock_mhz",
)
PEAK_FIELDS = ("fp32_tflops", "fp16_tflops", "bf16_tflops", "fp8_tflops", "int8_tops", "fp4_tflops")


class PeakBasis(models.TextChoices):
    """How the dense FP16/BF16 matrix peak is known; empty = not stated (the estimator falls back)."""

    NONE = "", "Not stated (estimator falls back to another figure)"
    STATED = "stated", "Stated by the vendor"
    DERIVED = "derived", "Derived: units x clock x vendor-stated rate per unit"
    NO_MATRIX_UNITS = "no_matrix_units", "No matrix units: vendor FP16 shader rate"


class Device(SourcedRecord):
    """An accelerator or host with its published capacities. Peaks are dense (no sparsity)."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    vendor = models.CharField(max_length=40)
    kind = models.CharField(max_length=8, choices=DeviceKind.choices)
    memory_gb = models.FloatField("memory (GB)", null=True, blank=True)
    memory_bandwidth_gbs = models.FloatField("memory bandwidth (GB/s)", null=True, blank=True)
    fp32_tflops = models.FloatField("FP32 TFLOPS", null=True, blank=True)
    fp16_tflops = models.FloatField("FP16 TFLOPS (dense)", null=True, blank=True)
    bf16_tflops = models.FloatField("BF16 TFLOPS (dense)", null=True, blank=True)
    fp8_tflops = models.FloatField("FP8 TFLOPS (dense)", null=True, blank=True)
    int8_tops = models.FloatField("INT8 TOPS (dense)", null=True, blank=True)
    fp4_tflops = models.FloatField("FP4 TFLOPS (dense)", null=True, blank=True)
    shader_fp16_tflops = models.FloatField("FP16 shader TFLOPS (non-tensor)", null=True, blank=True)
    tdp_w = models.FloatField("power (W)", null=True, blank=True)
    launch_year = models.PositiveIntegerField(null=True, blank=True)
    launch_price_usd = models.FloatField("launch price ($)", null=True, blank=True)
    interconnect = models.CharField(max_length=300, blank=True, default="")
    interconnect_gbs = models.FloatField("device link (GB/s)", null=True, blank=True)
    host_bandwidth_gbs = models.FloatField("host link (GB/s)", null=True, blank=True)
    usable_memory_fraction = models.FloatField(
        default=1.0, help_text="Share of memory a model may use (Apple unified memory: the GPU's share).")
    memory_options_gb = models.JSONField(
        "memory options (GB)", default=list, blank=True,
        help_text="Memory sizes the device is sold with, e.g. [36, 48, 64, 96, 128]; empty = one size or not stated.")
    fp16_peak_basis = models.CharField("FP16/BF16 peak basis", max_length=16, choices=PeakBasis.choices, blank=True, default="")
    chip = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="gpu_variants",
                             help_text="For a GPU-core variant: the chip whose stated figures it inherits.")
    gpu_cores = models.PositiveIntegerField("GPU cores", null=True, blank=True)
    # Units x clock is the rate a GPU issues work at: it bounds the bytes/s of batch-1 matrix-vector
    # kernels (docs/estimator.md "Issue-rate ceiling"). Empty = unknown: no ceiling is applied.
    compute_units = models.PositiveIntegerField(
        "compute units", null=True, blank=True, help_text="NVIDIA SMs, AMD compute units, Intel Xe cores.")
    boost_clock_mhz = models.FloatField("boost clock (MHz)", null=True, blank=True)

    class Meta:
        ordering = ["vendor", "name"]
        constraints = [
            *positive_constraints("device", _DEVICE_POSITIVE, finite=_DEVICE_POSITIVE),
            models.CheckConstraint(condition=Q(usable_memory_fraction__gt=0) & Q(usable_memory_fraction__lte=1),
                                   name="device_usable_fraction_range"),
            models.CheckConstraint(condition=Q(launch_year__isnull=True) | Q(launch_year__gte=1990),
                                   name="device_launch_year_plausible"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def usable_memory_gb(self) -> float | None:
        return None if self.memory_gb is None else self.memory_gb * self.usable_memory_fraction

    @property
    def issue_rate(self) -> float:
        """Compute units x boost clock, unit-cycles/s (NaN when either is unknown)."""
        if self.compute_units is None or self.boost_clock_mhz is None:
            return math.nan
        return self.compute_units * self.boost_clock_mhz * 1e6

    def clean(self) -> None:
        super().clean()
        errors = positive_errors(self, _DEVICE_POSITIVE)
        if self.usable_memory_fraction is not None and not (0 < self.usable_memory_fraction <= 1):
            errors["usable_memory_fraction"] = "The usable memory fraction must be greater than 0 and at most 1."
        if self.launch_year is not None and self.launch_year < 1990:
            errors["launch_year"] = "The launch year must be 1990 or later."
        options = self.memory_options_gb if self.memory_options_gb is not None else []
        self.memory_options_gb = options
        if not isinstance(options, list) or any(
                isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or size <= 0
                for size in options):
            errors["memory_options_gb"] = "Give a list of memory sizes in GB, each a number greater than 0, e.g. [36, 48, 64]."
        if self.compute_units is not None and self.compute_units < 1:
            errors["compute_units"] = "A GPU has at least one compute unit (leave it empty if unknown)."
        if self.gpu_cores is not None and self.gpu_cores < 1:
            errors["gpu_cores"] = "A GPU has at least one core (leave it empty if unknown)."
        if self.chip_id is not None:
            if self.pk is not None and self.chip_id == self.pk:
                errors["chip"] = "A device cannot be a variant of itself."
            elif self.chip is not None and self.chip.chip_id is not None:
                errors["chip"] = f"{self.chip} is itself a variant; link to its chip, {self.chip.chip}."
        if errors:
            raise ValidationError(errors)


class OfferTier(models.TextChoices):
    ON_DEMAND = "on-demand", "On-demand"
    SPOT = "spot", "Spot"
    RESERVED = "reserved", "Reserved"


class CloudOffer(SourcedRecord):
    """A provider's price per GPU-hour for renting `gpu_count` of a device, as published on `as_of`.

    `cloud_offers.csv` states every price per GPU-hour (docs/data.md), so an 8-GPU offer's
    `usd_per_hour` is already the price of one of its GPUs."""

    provider = models.CharField(max_length=80)
    device_label = models.CharField("device (as the provider names it)", max_length=200)
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="cloud_offers",
                               help_text="The catalog device, when the offer names exactly one.")
    gpu_count = models.PositiveIntegerField("GPU count", default=1)
    usd_per_hour = models.FloatField("$ / hour")
    tier = models.CharField(max_length=12, choices=OfferTier.choices)
    region_or_note = models.CharField(max_length=300, blank=True, default="")
    as_of = models.CharField(max_length=120, help_text="As published (a date or the source's wording).")
    as_of_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["usd_per_hour"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "device_label", "gpu_count", "tier", "region_or_note"],
                                    name="cloud_offer_unique"),
            models.CheckConstraint(condition=Q(usd_per_hour__gt=0, usd_per_hour__lte=FLOAT_MAX), name="cloud_offer_price_positive"),
            models.CheckConstraint(condition=Q(gpu_count__gte=1), name="cloud_offer_gpu_count_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} · {self.gpu_count}x {self.device_label} · ${self.usd_per_hour:g}/h"

    @property
    def usd_per_gpu_hour(self) -> float:
        return self.usd_per_hour

    @property
    def usd_per_offer_hour(self) -> float:
        """What renting the whole offer costs an hour: every one of its GPUs at the per-GPU price."""
        return self.usd_per_hour * self.gpu_count

    def clean(self) -> None:
        super().clean()
        errors = {}
        if self.usd_per_hour is not None and self.usd_per_hour <= 0:
            errors["usd_per_hour"] = "The hourly price must be greater than 0."
        if self.gpu_count is not None and self.gpu_count < 1:
            errors["gpu_count"] = "An offer rents at least one device."
        if errors:
            raise ValidationError(errors)
