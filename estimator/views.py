"""Calibration pages: workers, runs and fits; run and fit pages poll the API for live status."""

from __future__ import annotations

import json

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from estimator.admin import CalibrationRequestForm

from estimator.calibration.ledger import accuracy_ledger
from estimator.calibration.workers import live_workers
from estimator.models import CalibrationFit, CalibrationRun


def calibration_home(request, form: CalibrationRequestForm | None = None, status: int = 200):
    runs = CalibrationRun.objects.select_related("device").order_by("-created_at")[:50]
    fits = CalibrationFit.objects.select_related("device", "runtime").order_by("-created_at")[:50]
    if form is None and request.user.is_staff:
        form = CalibrationRequestForm()
    return render(request, "estimator/calibration_home.html",
                  {"workers": list(live_workers()), "runs": runs, "fits": fits, "form": form}, status=status)


@require_POST
@staff_member_required
def calibration_request(request):
    """Staff request a calibration of a device; the run page then follows it live."""
    form = CalibrationRequestForm(request.POST)
    run = form.request_run(requested_by=request.user)
    if run is not None:
        return redirect("calibration-run", pk=run.pk)
    return calibration_home(request, form=form, status=400)


def calibration_run(request, pk: int):
    run = get_object_or_404(CalibrationRun.objects.select_related("device", "runtime").prefetch_related(
        Prefetch("fits", queryset=CalibrationFit.objects.order_by("-pk"))), pk=pk)
    fit = next(iter(run.fits.all()), None)
    return render(request, "estimator/calibration_run.html", {"run": run, "fit": fit, "chart": _chart(fit)})


def calibration_fit(request, pk: int):
    fit = get_object_or_404(CalibrationFit.objects.select_related("device", "runtime", "run"), pk=pk)
    ledger = [r for r in accuracy_ledger(device=fit.device) if r["grouping"] != "device"]
    return render(request, "estimator/calibration_fit.html", {"fit": fit, "chart": _chart(fit), "ledger": ledger})


def _chart(fit: CalibrationFit | None) -> str:
    """Measured vs predicted (fitted and held-out) tokens/s per configuration, as the chart script reads it."""
    if fit is None:
        return "null"
    runs = fit.detail.get("runs", [])
    data = {key: [r.get(key) for r in runs] for key in ("label", "metric", "measured_tok_s", "fitted_tok_s", "cv_tok_s",
                                                        "prior_tok_s")}
    # Inside a <script> element: no "<" may close it (labels can come from uploaded files).
    return json.dumps(data).replace("<", "\\u003c")
