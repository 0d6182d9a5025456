"""Runs are rows: claimed once, recovered when their worker dies; fits are history; the newest accepted fit is used."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from devices.models import Device
from estimator import selectors, services
from estimator.calibration import runs as runs_service
from estimator.models import CalibrationFit, CalibrationRun, MeasuredRun, RunStatus
from models_catalog.models import Runtime

pytestmark = pytest.mark.django_db
GRID = [{"shape": "t", "config": {"arch": "tiny-dense"}, "points": [
    {"kind": "ar_step", "batch": 1, "queries": 1, "context": 0},
    {"kind": "prefill", "batch": 1, "queries": 8, "context": 0}]}]


@pytest.fixture
def device():
    return Device.objects.get(slug="nvidia-geforce-rtx-4090")


def _run(device, **fields) -> CalibrationRun:
    return CalibrationRun.objects.create(device=device, runtime=Runtime.objects.get(slug="reference"), grid=GRID,
                                         queue="calibrate.x", total=2, **fields)


def _fit(device, runtime="reference", **fields) -> CalibrationFit:
    values = {"eff_m": 0.5, "eff_c": 0.4, "eff_attn": 0.1, "t_fixed_s": 1e-3, "t_layer_s": 1e-5,
              "error_median_pct": 7.0, "n_runs": 10, "folds": 5, **fields}
    return CalibrationFit.objects.create(device=device, runtime=Runtime.objects.get(slug=runtime), **values)


def test_a_request_is_a_queued_row_sent_only_after_commit(device, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = runs_service.calibration_run_request(device=device, grid=GRID)
    assert (run.status, run.total, run.done, run.queue) == ("queued", 2, 0, "calibrate.nvidia-geforce-rtx-4090")
    assert len(callbacks) == 1


def test_a_bad_grid_is_refused_naming_the_field(device):
    with pytest.raises(ValueError, match=r"grid\[0\].points\[0\].kind"):
        runs_service.calibration_run_request(device=device, grid=[{"shape": "t", "config": {"arch": "tiny-dense"},
                                                                   "points": [{"kind": "warp", "batch": 1, "queries": 1}]}])
    assert not CalibrationRun.objects.exists()


def test_only_one_of_two_deliveries_claims_a_run(device):
    run = _run(device)
    assert runs_service._claim(run.pk, "a@host") == 1
    assert runs_service._claim(run.pk, "b@host") is None
    run.refresh_from_db()
    assert (run.status, run.worker, run.attempts) == ("running", "a@host", 1)


def test_a_run_whose_worker_died_is_retried_then_failed(device, django_capture_on_commit_callbacks, settings):
    settings.HWFIT_CALIBRATION_STALE_S = 60
    old = timezone.now() - timedelta(seconds=120)
    retried = _run(device, status=RunStatus.RUNNING, attempts=1, heartbeat_at=old, worker="dead@host")
    exhausted = _run(device, status=RunStatus.RUNNING, attempts=2, heartbeat_at=old, worker="dead@host")
    alive = _run(device, status=RunStatus.RUNNING, attempts=1, heartbeat_at=timezone.now(), worker="live@host")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = runs_service.calibration_runs_recover()
    assert result == {"retried": [retried.pk], "failed": [exhausted.pk]}
    assert len(callbacks) == 1
    statuses = dict(CalibrationRun.objects.values_list("pk", "status"))
    assert statuses == {retried.pk: "queued", exhausted.pk: "failed", alive.pk: "running"}
    assert "dead@host died" in CalibrationRun.objects.get(pk=exhausted.pk).error


def test_a_cancelled_run_stays_cancelled(device):
    run = _run(device)
    assert runs_service.calibration_run_cancel(run=run) is True
    assert runs_service._claim(run.pk, "a@host") is None
    assert runs_service.calibration_run_cancel(run=run) is False


def test_a_run_cannot_count_more_than_its_grid_nor_fail_silently(device):
    with pytest.raises(IntegrityError):
        _run(device, done=3)


def test_a_failed_run_must_say_why(device):
    run = _run(device)
    run.status = RunStatus.FAILED
    with pytest.raises(ValidationError) as caught:
        run.full_clean()
    assert "error" in caught.value.message_dict


def test_a_configuration_is_stored_once_per_run(device):
    run = _run(device)
    values = {"run": run, "key": "t|ar_step|b1|q1|c0", "source": "engine", "device": device,
              "runtime": run.runtime, "metric": "decode", "tokens_per_s": 10.0}
    MeasuredRun.objects.create(**values)
    with pytest.raises(IntegrityError):
        MeasuredRun.objects.create(**values)


def test_a_fit_is_never_edited_except_to_withdraw_it(device):
    fit = _fit(device)
    fit.eff_m = 0.9
    with pytest.raises(ValidationError):
        fit.save()
    fit.refresh_from_db()
    fit.accepted = False
    fit.save(update_fields=["accepted"])
    assert CalibrationFit.objects.get(pk=fit.pk).accepted is False


def test_an_efficiency_above_one_is_refused(device):
    with pytest.raises(IntegrityError):
        _fit(device, eff_m=1.5)


def test_the_newest_accepted_fit_of_a_pair_is_what_estimates_use(device):
    assert selectors.calibrations_frame() is None
    _fit(device, error_median_pct=30.0)
    newest = _fit(device, eff_m=0.8, error_median_pct=6.0)
    _fit(device, eff_m=0.1, error_median_pct=1.0, accepted=False)
    frame = selectors.calibrations_frame()
    assert len(frame) == 1 and frame.loc[0, "fit_id"] == newest.pk
    estimate = services.estimate_one(scenario={"model": "llama-3-1-8b", "quantization": "q4-k-m",
                                               "device": device.slug, "runtime": "reference"})
    assert estimate["calibrated"] is True
    assert estimate["error_band"] == pytest.approx(0.06)
    other = services.estimate_one(scenario={"model": "llama-3-1-8b", "quantization": "q4-k-m",
                                            "device": device.slug, "runtime": "llama-cpp"})
    assert other["calibrated"] is False
