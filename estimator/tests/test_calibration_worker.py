"""A real Celery worker on Redis calibrates this machine's CPU; a killed worker's run is retried, not duplicated.

These tests start `celery -A hwfit worker` subprocesses against the test database and the broker
of CELERY_BROKER_URL (default redis://127.0.0.1:6379/0). Without Redis they skip, except under
CI=true, where an unreachable broker fails them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from devices.models import Device
from estimator import services
from estimator.calibration import runs as runs_service
from estimator.models import CalibrationFit, CalibrationRun, MeasuredRun, RunStatus, Worker
from hwfit.celery import app

ROOT = Path(settings.BASE_DIR)
BROKER = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0"
STALE_S = 2
LOGS = Path(tempfile.gettempdir())

# A few seconds of work: the tiny dense shape at four points.
SMALL_GRID = [{"shape": "dense-xs", "config": {"arch": "tiny-dense", "dtype": "fp32"}, "points": [
    {"kind": "ar_step", "batch": 1, "queries": 1, "context": 0},
    {"kind": "ar_step", "batch": 8, "queries": 1, "context": 64},
    {"kind": "prefill", "batch": 1, "queries": 64, "context": 0},
    {"kind": "diffusion_step", "batch": 2, "queries": 16, "context": 32},
]}]
# ~15 s of work on one thread: prefill chunks of a 68 MB dense decoder, ~0.3-1 s per configuration.
SLOW_GRID = [{"shape": "dense-s", "config": {"arch": {
    "slug": "kill-test", "name": "kill test", "generation_mode": "autoregressive", "n_layers": 4, "hidden_size": 512,
    "n_heads": 8, "n_kv_heads": 4, "head_dim": 64, "intermediate_size": 1536, "vocab_size": 8192,
    "tied_embeddings": True}, "dtype": "fp32"},
    "points": [{"kind": "prefill", "batch": 1, "queries": q, "context": c} for q in (256, 384, 512) for c in (0, 64, 128, 256)]}]


def _broker_ready() -> None:
    import redis

    try:
        redis.Redis.from_url(BROKER, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {BROKER} is unreachable under CI: {exc}")
        pytest.skip(f"Redis at {BROKER} is unreachable: {exc}")


@pytest.fixture
def live_broker(transactional_db):
    """The test process sends tasks through Redis (not eagerly), to the catalog-loaded test database."""
    _broker_ready()
    if not Device.objects.exists():   # an earlier transactional test flushed the catalog
        call_command("loaddata", str(ROOT / "fixtures" / "catalog.json"), verbosity=0)
    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager", "result_backend")}
    app.conf.update(broker_url=BROKER, task_always_eager=False, result_backend=None)
    yield
    app.conf.update(saved)


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    def __init__(self, name: str) -> None:
        self.hostname = f"{name}@{os.uname().nodename}"
        env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": BROKER,
               "HWFIT_WORKER_PROBE": "quick", "HWFIT_ENGINE_THREADS": "1", "HWFIT_CALIBRATION_STALE_S": str(STALE_S),
               "DJANGO_SETTINGS_MODULE": "hwfit.settings"}
        env.pop("CELERY_RESULT_BACKEND", None)
        self.log = open(LOGS / f"hwfit-calib-worker-{name}.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hwfit", "worker", "-n", self.hostname, "-Q", f"test-{name}",
             "-c", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def registered(self, timeout: float = 60.0) -> Worker:
        return _wait(lambda: Worker.objects.filter(hostname=self.hostname).select_related("device").first(), timeout,
                     f"worker {self.hostname} to register", self)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)   # the main process and its pool, no clean-up
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def _wait(probe, timeout: float, what: str, worker: WorkerProcess | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        if worker is not None and worker.process.poll() is not None:
            break
        time.sleep(0.25)
    log = (LOGS / f"hwfit-calib-worker-{worker.hostname.split('@')[0]}.log").read_text()[-3000:] if worker else ""
    pytest.fail(f"timed out waiting for {what}\n{log}")


def _finished(run_id: int):
    run = CalibrationRun.objects.get(pk=run_id)
    return run if run.finished else None


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_calibrates_this_cpu_and_the_next_estimate_is_calibrated(live_broker):
    worker = WorkerProcess(f"calib-{uuid.uuid4().hex[:6]}")
    try:
        registered = worker.registered()
        assert registered.device is not None and registered.queue == f"calibrate.{registered.device.slug}"
        assert registered.probe["kind"] == "cpu"
        run = runs_service.calibration_run_request(device=registered.device, grid=SMALL_GRID, threads=1)
        run = _wait(lambda: _finished(run.pk), 60, "the run to finish", worker)
    finally:
        worker.stop()
    assert (run.status, run.done, run.total, run.attempts, run.error) == (RunStatus.DONE, 4, 4, 1, "")
    assert run.worker == worker.hostname
    keys = sorted(run.measured.values_list("key", flat=True))
    assert keys == sorted(["dense-xs|ar_step|b1|q1|c0", "dense-xs|ar_step|b8|q1|c64", "dense-xs|prefill|b1|q64|c0",
                           "dense-xs|diffusion_step|b2|q16|c32"])
    fit = CalibrationFit.objects.get(run=run)
    assert fit.accepted and fit.n_runs == 4 and fit.runtime.slug == "reference"
    estimate = services.estimate_one(scenario={"model": "llama-3-1-8b", "quantization": "bf16",
                                               "device": run.device.slug, "runtime": "reference"})
    assert estimate["calibrated"] is True
    assert estimate["error_band"] == pytest.approx(fit.error_median_pct / 100.0)


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_run_is_retried_by_the_next_worker_without_duplicates(live_broker):
    first = WorkerProcess(f"calib-{uuid.uuid4().hex[:6]}")
    try:
        device = first.registered().device
        run = runs_service.calibration_run_request(device=device, grid=SLOW_GRID, threads=1)
        _wait(lambda: CalibrationRun.objects.get(pk=run.pk).done >= 2, 60, "two configurations", first)
        first.kill()
    finally:
        first.stop()
    killed = CalibrationRun.objects.get(pk=run.pk)
    stored = MeasuredRun.objects.filter(run=run)
    assert killed.status == RunStatus.RUNNING and 2 <= killed.done < killed.total
    # No half-written state: every stored configuration counted, every counted one stored whole.
    assert stored.count() == killed.done
    assert all(m.record["seconds"] > 0 and m.record["key"] == m.key for m in stored)
    time.sleep(STALE_S)
    second = WorkerProcess(f"calib-{uuid.uuid4().hex[:6]}")
    try:
        second.registered()
        run = _wait(lambda: _finished(run.pk), 90, "the retried run to finish", second)
    finally:
        second.stop()
    assert (run.status, run.attempts, run.done, run.worker) == (RunStatus.DONE, 2, 12, second.hostname)
    keys = list(MeasuredRun.objects.filter(run=run).values_list("key", flat=True))
    assert len(keys) == len(set(keys)) == 12
    assert CalibrationFit.objects.filter(run=run).count() == 1
