"""Admin for calibration: request runs, import measured runs, confirm proposed devices, withdraw fits."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render
from django.urls import path, reverse

from devices.models import Device
from estimator.calibration import runs as runs_service
from estimator.calibration.imports import MeasuredImportError, measured_runs_import
from estimator.calibration.parsers import FORMATS
from estimator.calibration.workers import worker_device_confirm
from estimator.engine.sweep import PRESETS
from estimator.models import CalibrationFit, CalibrationRun, MeasuredRun, Worker


class CalibrationRequestForm(forms.Form):
    device = forms.ModelChoiceField(queryset=Device.objects.order_by("vendor", "name"))
    preset = forms.ChoiceField(choices=[("", "the device kind's grid")] + [(p, p) for p in PRESETS], required=False)
    threads = forms.IntegerField(min_value=1, required=False, help_text="torch CPU threads (CPU hosts)")

    def request_run(self, *, requested_by) -> CalibrationRun | None:
        """The queued run (sent to the device's workers on commit), or None with the reason as a form error.

        The admin's request view and the calibration page both request runs through here.
        """
        if not self.is_valid():
            return None
        try:
            return runs_service.calibration_run_request(
                device=self.cleaned_data["device"], requested_by=requested_by,
                preset=self.cleaned_data["preset"] or None, threads=self.cleaned_data["threads"])
        except ValueError as exc:
            self.add_error(None, str(exc))
            return None


@admin.register(CalibrationRun)
class CalibrationRunAdmin(admin.ModelAdmin):
    list_display = ("id", "device", "status", "done", "total", "attempts", "worker", "requested_by", "created_at")
    list_filter = ("status", "device__kind")
    search_fields = ("device__name", "worker")
    readonly_fields = [f.name for f in CalibrationRun._meta.fields]
    actions = ["cancel_runs"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False   # a run is a job's record: workers write it, staff cancel it

    def get_urls(self):
        return [path("request/", self.admin_site.admin_view(self.request_view), name="estimator_calibrationrun_request"),
                *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:estimator_calibrationrun_request")

    def request_view(self, request):
        """Request a calibration of a device: a queued run, sent to the device's workers on commit."""
        form = CalibrationRequestForm(request.POST or None)
        run = form.request_run(requested_by=request.user) if request.method == "POST" else None
        if run is not None:
            self.message_user(request, f"Calibration run #{run.pk} queued on {run.queue}.", messages.SUCCESS)
            return redirect(reverse("calibration-run", args=[run.pk]))
        context = {**self.admin_site.each_context(request), "form": form, "title": "Request a calibration",
                   "opts": self.model._meta}
        return render(request, "admin/estimator/form_page.html", context)

    @admin.action(description="Cancel the selected runs (those not finished)")
    def cancel_runs(self, request, queryset):
        cancelled = sum(runs_service.calibration_run_cancel(run=run) for run in queryset)
        self.message_user(request, f"{cancelled} run(s) cancelled.")


class MeasuredImportForm(forms.Form):
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS])
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 14, "cols": 120}), required=False,
                           help_text="Paste the output here, or upload it below.")
    file = forms.FileField(required=False)
    model = forms.CharField(required=False, help_text="Catalog model slug or name (llama-bench, vLLM, SGLang).")
    quantization = forms.CharField(required=False)
    device = forms.CharField(required=False)
    runtime = forms.CharField(required=False, help_text="Overrides the runtime the format implies.")
    skip_bad = forms.BooleanField(required=False, help_text="Store the good lines and report the bad ones.")

    def clean(self):
        data = super().clean()
        if data.get("file"):
            try:
                data["text"] = data["file"].read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("file", "Not UTF-8 text.")
        if not data.get("text"):
            self.add_error("text", "Paste the output or upload a file.")
        return data


@admin.register(MeasuredRun)
class MeasuredRunAdmin(admin.ModelAdmin):
    list_display = ("key", "source", "device", "runtime", "model", "quantization", "metric", "tokens_per_s", "run")
    list_filter = ("source", "metric", "runtime")
    search_fields = ("key", "device__name", "model__name")
    list_select_related = ("device", "runtime", "model", "quantization", "run")
    raw_id_fields = ("run",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        return [path("import/", self.admin_site.admin_view(self.import_view), name="estimator_measuredrun_import"),
                *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:estimator_measuredrun_import")

    def import_view(self, request):
        """Paste or upload runtime benchmark output; every bad line is listed, nothing half-imported."""
        form = MeasuredImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            defaults = {k: data[k] for k in ("model", "quantization", "device", "runtime") if data.get(k)}
            try:
                result = measured_runs_import(text=data["text"], fmt=data["format"], defaults=defaults,
                                              skip_bad=data["skip_bad"])
            except MeasuredImportError as exc:
                for error in exc.errors[:50]:
                    form.add_error(None, f"line {error['line']}: {error['field']}: {error['reason']}")
            else:
                self.message_user(request, f"Imported {len(result.stored)} measured runs "
                                  f"({result.skipped} bad lines skipped).", messages.SUCCESS)
                return redirect("admin:estimator_measuredrun_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "title": "Import measured runs",
                   "opts": self.model._meta, "multipart": True}
        return render(request, "admin/estimator/form_page.html", context)


@admin.register(CalibrationFit)
class CalibrationFitAdmin(admin.ModelAdmin):
    list_display = ("id", "device", "runtime", "error_median_pct", "n_runs", "accepted", "created_at")
    list_filter = ("accepted", "runtime")
    search_fields = ("device__name",)
    readonly_fields = [f.name for f in CalibrationFit._meta.fields if f.name != "accepted"]
    actions = ["withdraw", "accept"]

    def has_add_permission(self, request) -> bool:
        return False   # fits come from runs and imports

    def save_model(self, request, obj, form, change):
        obj.save(update_fields=["accepted"])

    @admin.action(description="Withdraw the selected fits (estimates fall back to the previous one or the prior)")
    def withdraw(self, request, queryset):
        for fit in queryset:
            fit.accepted = False
            fit.save(update_fields=["accepted"])

    @admin.action(description="Accept the selected fits")
    def accept(self, request, queryset):
        for fit in queryset:
            fit.accepted = True
            fit.save(update_fields=["accepted"])


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ("hostname", "device", "device_proposed", "queue", "last_heartbeat")
    list_filter = ("device_proposed",)
    readonly_fields = ("hostname", "queue", "probe", "started_at", "last_heartbeat")
    actions = ["confirm_devices", "calibrate_devices"]

    @admin.action(description="Confirm the proposed devices of the selected workers")
    def confirm_devices(self, request, queryset):
        confirmed = sum(worker_device_confirm(device=w.device) for w in queryset if w.device_id)
        self.message_user(request, f"{confirmed} worker(s) now serve a confirmed device.")

    @admin.action(description="Request a calibration of the selected workers' devices")
    def calibrate_devices(self, request, queryset):
        for device in {w.device for w in queryset if w.device_id}:
            run = runs_service.calibration_run_request(device=device, requested_by=request.user)
            self.message_user(request, f"Calibration run #{run.pk} of {device} queued.")
