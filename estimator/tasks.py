"""Celery tasks: thin; they take ids, call a service, and let the row record the outcome.

The engine (and torch) is imported inside the service's sweep, in the worker's child process,
never when this module is imported: the web process sends these tasks without loading torch.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings


@shared_task(bind=True, acks_late=True, ignore_result=True, reject_on_worker_lost=False,
             soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT, time_limit=settings.CELERY_TASK_TIME_LIMIT)
def calibration_run_execute(self, run_id: int) -> None:
    """Measure and fit one CalibrationRun (claimed by a conditional update: a redelivery is a no-op)."""
    from estimator.calibration.runs import calibration_run_execute as execute

    execute(run_id=run_id, worker=self.request.hostname or "eager")
