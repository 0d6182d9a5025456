"""The Celery application.

With no broker configured (the embedded default), tasks run in-process (eager) so that a fresh
checkout works with nothing else running. With CELERY_BROKER_URL set, tasks go to Redis and run
on `celery -A hwfit worker` processes, one or more per device host.

A worker knows its device (docs/calibration.md): when it is ready it probes the device in a
child process (its own process must not touch CUDA before the pool forks), registers itself
and the device (found in the catalog by name, or proposed for staff to confirm), starts
consuming the device's queue `calibrate.<device slug>`, sends a heartbeat, and requeues or fails
the runs of workers that died.
"""

import logging
import os
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwfit.settings")

app = Celery("hwfit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)
_stop = threading.Event()


@worker_ready.connect
def _register_worker(sender=None, **_kwargs) -> None:
    if os.environ.get("HWFIT_WORKER_REGISTER", "1") == "0":
        return
    from django.db import close_old_connections

    from estimator.calibration.runs import calibration_runs_recover
    from estimator.calibration.workers import HEARTBEAT_S, probe_subprocess, worker_heartbeat, worker_register

    hostname = sender.hostname
    try:
        probe = probe_subprocess(quick=os.environ.get("HWFIT_WORKER_PROBE") == "quick")
        worker = worker_register(hostname=hostname, probe=probe)
    except Exception:  # the worker still serves its other queues; the log says why it has no device
        log.exception("hwfit: could not probe and register this worker's device")
        return
    sender.add_task_queue(worker.queue)
    log.info("hwfit: %s calibrates %s (queue %s)", hostname, worker.device, worker.queue)
    recovered = calibration_runs_recover()
    if recovered["retried"] or recovered["failed"]:
        log.warning("hwfit: runs of dead workers: %s", recovered)

    def beat() -> None:
        while not _stop.wait(HEARTBEAT_S):
            close_old_connections()
            try:
                worker_heartbeat(hostname=hostname)
            except Exception:  # a database blip must not kill the heartbeat
                log.exception("hwfit: heartbeat failed")

    threading.Thread(target=beat, name="hwfit-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_heartbeat(**_kwargs) -> None:
    _stop.set()
