"""Workers that know their device: register from the engine's probe, heartbeat, list the live ones.

A worker's main process never imports torch (CUDA must not be touched before the pool forks):
`probe_subprocess` runs the engine's probe in a child Python and reads its JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from devices.models import Device, DeviceKind
from estimator.calibration.runs import queue_for
from estimator.models import Worker

HEARTBEAT_S = 15.0
LIVE_AFTER = timedelta(seconds=60)


def probe_subprocess(*, quick: bool = False, timeout_s: float = 300.0) -> dict[str, Any]:
    """The engine's device probe, run in a separate Python so this process stays free of torch."""
    command = [sys.executable, "-m", "estimator.engine", "probe"] + (["--quick"] if quick else [])
    threads = os.environ.get("HWFIT_ENGINE_THREADS")
    if threads:
        command += ["--threads", threads]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=settings.BASE_DIR,
                          check=True)
    return json.loads(done.stdout)


def _device_for(probe: dict[str, Any]) -> tuple[Device, bool]:
    """The catalog device named like the probed one, or a new row proposed from the probe."""
    name = str(probe.get("name") or "unknown device").strip()
    found = Device.objects.filter(name__iexact=name).first() or Device.objects.filter(slug=slugify(name)).first()
    if found:
        if _still_proposed(found):
            _raise_to_probe(found, probe)
        return found, False
    kind = {"gpu": DeviceKind.GPU, "cpu": DeviceKind.CPU}.get(probe.get("kind"), DeviceKind.CPU)
    if probe.get("device", {}).get("type") == "mps":
        kind = DeviceKind.APPLE

    def rate(key: str) -> float | None:
        value = probe.get(key)
        return float(value) if isinstance(value, (int, float)) and value > 0 else None

    device = Device(
        name=name[:120], slug=slugify(name)[:80] or "probed-device", vendor=str(probe.get("vendor") or "unknown")[:40],
        kind=kind, memory_gb=rate("memory_gb"), memory_bandwidth_gbs=rate("memory_bandwidth_gbs"),
        fp32_tflops=rate("fp32_tflops"), fp16_tflops=rate("fp16_tflops"), bf16_tflops=rate("bf16_tflops"),
        source=f"Proposed by a calibration worker from its probe at {timezone.now():%Y-%m-%d %H:%M} UTC: achieved "
               "bandwidth and matmul rates measured by the reference engine, not datasheet peaks.",
        notes="Awaiting staff confirmation: replace the measured figures with the datasheet's.",
        derived_fields=["memory_bandwidth_gbs", "fp32_tflops", "fp16_tflops", "bf16_tflops"])
    device.full_clean()
    device.save()
    return device, True


def worker_register(*, hostname: str, probe: dict[str, Any], queue: str | None = None) -> Worker:
    """Create or refresh the Worker row of `hostname`, linked to its (found or proposed) device."""
    with transaction.atomic():
        device, proposed = _device_for(probe)
        worker, _ = Worker.objects.update_or_create(
            hostname=hostname,
            defaults={"device": device, "device_proposed": proposed or _still_proposed(device),
                      "queue": queue or queue_for(device), "probe": probe, "last_heartbeat": timezone.now()})
    return worker


RATES = ("memory_bandwidth_gbs", "fp32_tflops", "fp16_tflops", "bf16_tflops")


def _raise_to_probe(device: Device, probe: dict[str, Any]) -> None:
    """A proposed device's figures are the best any probe achieved: an achieved rate is a lower
    bound of what the device can do, and a probe run while other processes load the host reads low."""
    changed = []
    for field in RATES:
        value = probe.get(field)
        if isinstance(value, (int, float)) and value > (getattr(device, field) or 0):
            setattr(device, field, float(value))
            changed.append(field)
    if changed:
        device.save(update_fields=[*changed, "updated_at"])


def _still_proposed(device: Device) -> bool:
    return Worker.objects.filter(device=device, device_proposed=True).exists()


def worker_heartbeat(*, hostname: str) -> bool:
    return bool(Worker.objects.filter(hostname=hostname).update(last_heartbeat=timezone.now()))


def worker_device_confirm(*, device: Device) -> int:
    """Staff confirmed a proposed device: its workers stop flagging it."""
    return Worker.objects.filter(device=device, device_proposed=True).update(device_proposed=False)


def live_workers():
    """Workers heard from within LIVE_AFTER, newest heartbeat first."""
    return (Worker.objects.filter(last_heartbeat__gte=timezone.now() - LIVE_AFTER)
            .select_related("device").order_by("-last_heartbeat"))
