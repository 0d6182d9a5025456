"""Calibration runs as jobs: request, claim, measure configuration by configuration, fit, recover.

Storage: each measured configuration is stored in its own transaction together with the run's
progress (`done + 1`, heartbeat), guarded by the claim. A killed worker therefore leaves whole
rows or none, never a half-written one, and the unique (run, key) constraint plus the skip list
make a retry resume where the dead worker stopped instead of measuring twice. Per configuration
rather than all at the end: a GPU sweep takes minutes, and its progress and partial results
must survive a lost worker (docs/calibration.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from devices.models import Device
from estimator.calibration.fits import CalibrationError, calibration_fit_engine
from estimator.engine.sweep import default_sweep, preset_for, validate_grid
from estimator.models import FINISHED, CalibrationFit, CalibrationRun, MeasuredRun, MeasuredSource, RunStatus
from models_catalog.models import Runtime

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 2


def queue_for(device: Device) -> str:
    """The Celery queue of a device's workers."""
    return f"calibrate.{device.slug}"


def stale_after() -> timedelta:
    """How long a running run may go without a heartbeat before its worker counts as dead."""
    return timedelta(seconds=float(getattr(settings, "HWFIT_CALIBRATION_STALE_S", 300)))


def calibration_run_request(*, device: Device, requested_by=None, preset: str | None = None,
                            grid: list[dict[str, Any]] | None = None, threads: int | None = None,
                            runtime: Runtime | None = None, dispatch: bool = True) -> CalibrationRun:
    """Create a queued run and send its task once the row is committed (`dispatch=False`: the
    caller executes it in the foreground, as `manage.py calibrate` does).

    preset: quick | cpu | gpu (default: the device kind's); or a custom `grid` (validated).
    Raises ValueError naming the bad field.
    """
    if grid is None:
        preset = preset or preset_for(device.kind)
        grid = default_sweep(preset)
    else:
        preset = ""
    configs = validate_grid(grid)
    if threads is not None and threads < 1:
        raise ValueError("threads: a whole number >= 1")
    run = CalibrationRun(device=device, runtime=runtime or Runtime.objects.get(slug="reference"),
                         requested_by=requested_by, preset=preset, grid=grid, threads=threads,
                         queue=queue_for(device), total=len(configs))
    run.full_clean()
    run.save()
    if dispatch:
        _dispatch_on_commit(run)
    return run


def _dispatch_on_commit(run: CalibrationRun) -> None:
    from estimator.tasks import calibration_run_execute

    run_id, queue = run.pk, run.queue
    transaction.on_commit(lambda: calibration_run_execute.apply_async(args=[run_id], queue=queue))


def calibration_run_cancel(*, run: CalibrationRun) -> bool:
    """Cancel a run that has not finished; the worker stops before its next configuration."""
    changed = (CalibrationRun.objects.filter(pk=run.pk).exclude(status__in=FINISHED)
               .update(status=RunStatus.CANCELLED, finished_at=timezone.now()))
    return bool(changed)


def _claim(run_id: int, worker: str) -> int | None:
    """Take the run (queued, or running with a dead worker); returns the attempt number or None.

    One conditional UPDATE: of two deliveries of the same task, only one changes the row.
    """
    now = timezone.now()
    claimable = Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale_after())
    with transaction.atomic():
        taken = (CalibrationRun.objects.filter(claimable, pk=run_id, attempts__lt=MAX_ATTEMPTS)
                 .update(status=RunStatus.RUNNING, attempts=F("attempts") + 1, worker=worker, heartbeat_at=now,
                         started_at=Coalesce("started_at", now), error=""))
    if not taken:
        return None
    return CalibrationRun.objects.values_list("attempts", flat=True).get(pk=run_id)


def _held(run_id: int, attempt: int) -> CalibrationRun:
    return CalibrationRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, attempts=attempt)


class _Lost(Exception):
    """The run was cancelled or taken over by another worker: stop quietly."""


def _store(run: CalibrationRun, attempt: int, record: dict[str, Any]) -> None:
    """One configuration: its row and the run's progress, together or not at all."""
    with transaction.atomic():
        if not _held(run.pk, attempt).update(done=F("done") + 1, heartbeat_at=timezone.now()):
            raise _Lost()
        MeasuredRun.objects.create(
            run=run, key=record["key"], source=MeasuredSource.ENGINE, device=run.device, runtime=run.runtime,
            metric=_metric(record["kind"]), test=record["key"].split("|", 1)[1][:120], batch=record["batch"],
            tokens_per_s=record["batch"] * record["queries"] / record["seconds"], record=record)


def _metric(kind: str) -> str:
    from estimator.core.calibrate import PASS_METRIC

    return PASS_METRIC[kind]


def _fail(run_id: int, attempt: int | None, error: str) -> None:
    queryset = CalibrationRun.objects.filter(pk=run_id).exclude(status__in=FINISHED)
    if attempt is not None:
        queryset = queryset.filter(attempts=attempt)
    queryset.update(status=RunStatus.FAILED, error=error[:4000] or "failed", finished_at=timezone.now())


ProgressFn = Callable[[int, int, str], None]


def calibration_run_execute(*, run_id: int, worker: str, progress: ProgressFn | None = None,
                            deadline_s: float | None = None) -> CalibrationFit | None:
    """Claim the run, measure what is not stored yet, fit; a no-op if another worker holds it."""
    attempt = _claim(run_id, worker)
    if attempt is None:
        log.info("calibration run %s: not claimable (finished, held by a live worker, or out of attempts)", run_id)
        return None
    run = CalibrationRun.objects.select_related("device", "runtime").get(pk=run_id)
    skip = set(run.measured.values_list("key", flat=True))
    deadline = time.perf_counter() + deadline_s if deadline_s else None
    from estimator.engine.sweep import run_sweep

    try:
        for record in run_sweep(run.grid, threads=run.threads, skip=skip, deadline=deadline, progress=progress):
            _store(run, attempt, record)
        if run.measured.count() < run.total:
            _fail(run_id, attempt, "time budget spent before every configuration was measured")
            return None
        with transaction.atomic():
            fit = calibration_fit_engine(run=run)
            if not _held(run_id, attempt).update(status=RunStatus.DONE, finished_at=timezone.now(),
                                                 heartbeat_at=timezone.now()):
                raise _Lost()
        return fit
    except _Lost:
        log.info("calibration run %s: cancelled or taken over; stopping", run_id)
        return None
    except CalibrationError as exc:
        _fail(run_id, attempt, str(exc))
        return None
    except BaseException as exc:  # time limits, engine errors, KeyboardInterrupt: never leave it "running"
        _fail(run_id, attempt, f"{type(exc).__name__}: {exc}")
        raise


def calibration_runs_recover(*, now=None) -> dict[str, list[int]]:
    """Runs whose worker died (no heartbeat for `stale_after`): retried, or failed after MAX_ATTEMPTS.

    Called when a worker starts. The conditional updates make two workers starting at once safe.
    """
    now = now or timezone.now()
    stale = CalibrationRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale_after())
    retried, failed = [], []
    for run in stale.select_related("device"):
        if run.attempts < MAX_ATTEMPTS:
            with transaction.atomic():
                if stale.filter(pk=run.pk, attempts=run.attempts).update(status=RunStatus.QUEUED):
                    _dispatch_on_commit(run)
                    retried.append(run.pk)
        elif stale.filter(pk=run.pk, attempts=run.attempts).update(
                status=RunStatus.FAILED, finished_at=now,
                error=f"worker {run.worker or '?'} died (no heartbeat); {run.attempts} attempts made"):
            failed.append(run.pk)
    return {"retried": retried, "failed": failed}
