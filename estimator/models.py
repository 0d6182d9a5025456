"""Calibration as rows: workers and their devices, runs, measured runs, fits (docs/calibration.md).

A `CalibrationRun` is a job: the exact grid, a status, progress, timings and error text; a
Celery task claims it with a conditional update. Each measured configuration is one
`MeasuredRun` row, unique per (run, key), so a retried task resumes instead of duplicating. A
`CalibrationFit` is never edited: a new fit is a new row, and the newest accepted one per
(device, runtime) is what estimates use.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from devices.models import Device
from models_catalog.models import ModelArchitecture, QuantizationFormat, Runtime


class Worker(models.Model):
    """A Celery worker host and the device it calibrates, registered (and kept alive) by the worker."""

    hostname = models.CharField(max_length=200, unique=True, help_text="Celery node name (name@host).")
    queue = models.CharField(max_length=120, help_text="The queue it consumes: calibrate.<device slug>.")
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="workers")
    device_proposed = models.BooleanField(
        default=False, help_text="The device row was created from this worker's probe and awaits staff confirmation.")
    probe = models.JSONField(default=dict, blank=True, help_text="What the engine's probe measured at start.")
    started_at = models.DateTimeField(auto_now_add=True)
    last_heartbeat = models.DateTimeField()

    class Meta:
        ordering = ["-last_heartbeat"]
        constraints = [models.CheckConstraint(condition=~Q(queue=""), name="worker_queue_named")]

    def __str__(self) -> str:
        return self.hostname


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED)


class CalibrationRun(models.Model):
    """One calibration of a device: the configurations to time and what became of them."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="calibration_runs")
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="calibration_runs")
    runtime = models.ForeignKey(Runtime, on_delete=models.PROTECT, related_name="calibration_runs")
    preset = models.CharField(max_length=20, blank=True, default="", help_text="quick | cpu | gpu, or '' for a custom grid.")
    grid = models.JSONField(help_text="Shape groups {shape, config, points}: exactly what is timed.")
    threads = models.PositiveIntegerField(null=True, blank=True, help_text="torch CPU threads (None: torch's default).")
    queue = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    total = models.PositiveIntegerField(help_text="Configurations in the grid.")
    done = models.PositiveIntegerField(default=0, help_text="Configurations measured and stored.")
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker claimed it.")
    worker = models.CharField(max_length=200, blank=True, default="", help_text="Node that holds (or held) it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the claiming task.")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(done__lte=models.F("total")), name="calibration_run_done_le_total"),
            models.CheckConstraint(condition=Q(total__gt=0), name="calibration_run_has_configurations"),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in RunStatus]), name="calibration_run_status_known"),
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(error=""), name="calibration_run_failure_says_why"),
        ]

    def __str__(self) -> str:
        return f"Calibration #{self.pk} of {self.device} ({self.status})"

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def clean(self) -> None:
        errors = {}
        if self.total is not None and self.done is not None and self.done > self.total:
            errors["done"] = "Measured configurations cannot exceed the grid's."
        if self.status == RunStatus.FAILED and not self.error:
            errors["error"] = "A failed run says why."
        if not isinstance(self.grid, list) or not self.grid:
            errors["grid"] = "Give a non-empty list of {shape, config, points} groups."
        if errors:
            raise ValidationError(errors)


class MeasuredSource(models.TextChoices):
    ENGINE = "engine", "Reference engine"
    LLAMA_BENCH = "llama-bench", "llama-bench"
    VLLM = "vllm", "vLLM benchmark"
    SGLANG = "sglang", "SGLang benchmark"
    CSV = "csv", "Measured-runs CSV"


class Metric(models.TextChoices):
    DECODE = "decode", "Decode (tokens/s)"
    PREFILL = "prefill", "Prefill (tokens/s)"
    DIFFUSION = "diffusion", "Block diffusion (tokens/s)"


class MeasuredRun(models.Model):
    """One measured configuration: an engine pass timing (of a run) or an imported runtime benchmark line.

    Engine rows keep the engine's JSON record in `record`; imported lines keep the parsed line
    and link to the catalog model, quantization and device they ran.
    """

    run = models.ForeignKey(CalibrationRun, null=True, blank=True, on_delete=models.CASCADE, related_name="measured")
    key = models.CharField(max_length=200, help_text="Configuration key, unique within a run or an import.")
    source = models.CharField(max_length=20, choices=MeasuredSource.choices)
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="measured_runs")
    runtime = models.ForeignKey(Runtime, on_delete=models.PROTECT, related_name="measured_runs")
    model = models.ForeignKey(ModelArchitecture, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="measured_runs")
    quantization = models.ForeignKey(QuantizationFormat, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="measured_runs")
    metric = models.CharField(max_length=10, choices=Metric.choices)
    test = models.CharField(max_length=120, blank=True, default="", help_text="tg128, pp512@d4096, ar_step b4 ...")
    batch = models.PositiveIntegerField(default=1)
    n_devices = models.PositiveIntegerField(default=1)
    tokens_per_s = models.FloatField()
    record = models.JSONField(default=dict, blank=True, help_text="The engine's record or the parsed source line.")
    import_batch = models.CharField(max_length=64, blank=True, default="", help_text="Which upload it came in.")
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["device", "runtime", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], condition=Q(run__isnull=False), name="measured_run_once_per_run"),
            models.UniqueConstraint(fields=["import_batch", "key"], condition=Q(run__isnull=True),
                                    name="measured_line_once_per_import"),
            models.CheckConstraint(condition=Q(tokens_per_s__gt=0), name="measured_run_rate_positive"),
            models.CheckConstraint(condition=Q(source="engine") | (Q(model__isnull=False) & Q(quantization__isnull=False)),
                                   name="measured_import_names_model_and_format"),
            models.CheckConstraint(condition=~Q(source="engine") | Q(run__isnull=False), name="measured_engine_has_run"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens_per_s:.4g} tok/s"

    def clean(self) -> None:
        errors = {}
        if self.tokens_per_s is not None and not self.tokens_per_s > 0:
            errors["tokens_per_s"] = "A measured rate is greater than 0."
        if self.source != MeasuredSource.ENGINE and (self.model_id is None or self.quantization_id is None):
            errors["model"] = "An imported run names the catalog model and quantization it ran."
        if self.source == MeasuredSource.ENGINE and self.run_id is None:
            errors["run"] = "An engine run belongs to a calibration run."
        if errors:
            raise ValidationError(errors)


class CalibrationFit(models.Model):
    """Fitted efficiencies of one (device, runtime), with the cross-validated error; never edited."""

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="calibration_fits")
    runtime = models.ForeignKey(Runtime, on_delete=models.PROTECT, related_name="calibration_fits")
    run = models.ForeignKey(CalibrationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="fits")
    eff_m = models.FloatField()
    eff_c = models.FloatField()
    eff_attn = models.FloatField()
    t_fixed_s = models.FloatField(help_text="Fixed seconds per forward pass.")
    t_layer_s = models.FloatField(help_text="Fixed seconds per layer per pass.")
    t_expert_s = models.FloatField(default=0.0, help_text="Engine only: seconds per touched expert-layer (not used by estimates).")
    error_p10_pct = models.FloatField(null=True, blank=True)
    error_median_pct = models.FloatField(help_text="Median |error| on held-out runs (k-fold), %.")
    error_p90_pct = models.FloatField(null=True, blank=True)
    prior_error_median_pct = models.FloatField(null=True, blank=True, help_text="The prior's median |error| on the same runs, %.")
    n_runs = models.PositiveIntegerField()
    folds = models.PositiveIntegerField()
    accepted = models.BooleanField(default=True)
    detail = models.JSONField(default=dict, blank=True, help_text="Prior, bands per metric, measured vs predicted per run.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(eff_m__gt=0) & Q(eff_m__lte=1), name="fit_eff_m_range"),
            models.CheckConstraint(condition=Q(eff_c__gt=0) & Q(eff_c__lte=1), name="fit_eff_c_range"),
            models.CheckConstraint(condition=Q(eff_attn__gt=0) & Q(eff_attn__lte=1), name="fit_eff_attn_range"),
            models.CheckConstraint(condition=Q(t_fixed_s__gte=0) & Q(t_layer_s__gte=0) & Q(t_expert_s__gte=0),
                                   name="fit_fixed_costs_non_negative"),
            models.CheckConstraint(condition=Q(error_median_pct__gte=0), name="fit_error_non_negative"),
            models.CheckConstraint(condition=Q(n_runs__gte=3), name="fit_has_runs"),
        ]

    def __str__(self) -> str:
        return f"Fit #{self.pk} {self.device} / {self.runtime} (±{self.error_median_pct:.1f}%)"

    def clean(self) -> None:
        errors = {}
        for name in ("eff_m", "eff_c", "eff_attn"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                errors[name] = "An efficiency is a share of the peak: greater than 0, at most 1."
        for name in ("t_fixed_s", "t_layer_s", "t_expert_s"):
            value = getattr(self, name)
            if value is not None and value < 0:
                errors[name] = "A fixed cost is not negative."
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        # Fits are history: only `accepted` may change once stored (staff can withdraw one).
        if self.pk is not None and kwargs.get("update_fields") != ["accepted"]:
            raise ValidationError("A calibration fit is never edited; fit again to make a new one.")
        super().save(*args, **kwargs)
