"""Device probes: what the device says about itself, and what it achieves.

`probe_device` measures achieved memory bandwidth (a large device-to-device copy) and dense
matmul throughput per dtype, and returns them under the catalog's device column names
(`memory_bandwidth_gbs`, `fp32_tflops`, ...) so that an unknown attached device can be
catalogued from measurements. Achieved figures are below datasheet peaks by design; the
calibration fit compares the two.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any

import torch

from .model import dtype_of


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> the first CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: CUDA requested but torch sees no CUDA device")
    return device


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _host_memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def device_info(device: torch.device) -> dict[str, Any]:
    """Name, kind, vendor, memory and the software stack of `device` (no measurement)."""
    info: dict[str, Any] = {
        "type": device.type,
        "torch": torch.__version__,
        "host_cpu": _cpu_name(),
        "host_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "host_memory_gb": (_host_memory_bytes() or 0) / 1e9 or None,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update({
            "name": props.name, "kind": "gpu", "vendor": "NVIDIA" if torch.version.cuda else "AMD",
            "memory_gb": props.total_memory / 1e9, "multiprocessors": props.multi_processor_count,
            "compute_capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda,
            "tf32_matmul_allowed": torch.backends.cuda.matmul.allow_tf32,
        })
    else:
        info.update({"name": info["host_cpu"], "kind": "cpu", "vendor": _cpu_name().split()[0],
                     "memory_gb": info["host_memory_gb"], "cpu_capability": torch.backends.cpu.get_cpu_capability()})
    return info


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device, min_s: float, max_reps: int) -> list[float]:
    """Times of repeated calls after one warm-up call, until min_s spent or max_reps done."""
    fn()
    _sync(device)
    times: list[float] = []
    spent = 0.0
    while len(times) < max_reps and (spent < min_s or len(times) < 3):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return times


def measure_bandwidth(device: torch.device, nbytes: int, min_s: float = 0.3) -> dict[str, Any]:
    """Achieved bandwidth of dst.copy_(src): each copy reads and writes nbytes (2 x nbytes moved)."""
    n = nbytes // 4
    src = torch.ones(n, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    times = _time(lambda: dst.copy_(src), device, min_s, 200)
    best, median = min(times), statistics.median(times)
    del src, dst
    return {"bytes": n * 4, "reps": len(times), "best_gbs": 2 * n * 4 / best / 1e9,
            "median_gbs": 2 * n * 4 / median / 1e9}


def measure_matmul(device: torch.device, dtype: str, max_n: int, target_s: float = 0.05,
                   min_s: float = 0.3) -> dict[str, Any]:
    """Dense [n x n] @ [n x n] throughput; n doubles from 256 until one product takes target_s or reaches max_n."""
    tdtype = dtype_of(dtype)
    n = 256
    while True:
        a = torch.randn(n, n, device=device, dtype=tdtype)
        b = torch.randn(n, n, device=device, dtype=tdtype)
        one = min(_time(lambda: a @ b, device, 0.0, 3))
        if one >= target_s or n * 2 > max_n:
            break
        n *= 2
    times = _time(lambda: a @ b, device, min_s, 100)
    flops = 2.0 * n ** 3
    return {"n": n, "reps": len(times), "best_tflops": flops / min(times) / 1e12,
            "median_tflops": flops / statistics.median(times) / 1e12}


def probe_device(device: str | torch.device = "auto", *, quick: bool = False,
                 dtypes: tuple[str, ...] = ("fp32", "fp16", "bf16")) -> dict[str, Any]:
    """Describe and measure a device; returns one JSON-able record.

    Keys named like the catalog's device columns (`memory_gb`, `memory_bandwidth_gbs`,
    `<dtype>_tflops`) hold the *achieved* figures (best of the repetitions); `measurements`
    keeps the details. `quick` shrinks sizes for tests (seconds on a CPU).
    """
    dev = device if isinstance(device, torch.device) else pick_device(device)
    info = device_info(dev)
    record: dict[str, Any] = {"device": info, "name": info["name"], "kind": info["kind"],
                              "vendor": info["vendor"], "memory_gb": info["memory_gb"], "measurements": {}}
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        copy_bytes = int(min(4 << 30, free // 4))
        max_n = 16384 if not quick else 2048
    else:
        copy_bytes = (256 << 20) if not quick else (32 << 20)
        max_n = 4096 if not quick else 512
    min_s = 0.05 if quick else 0.3
    bw = measure_bandwidth(dev, copy_bytes, min_s=min_s)
    record["measurements"]["copy"] = bw
    record["memory_bandwidth_gbs"] = bw["best_gbs"]
    for dtype in dtypes:
        try:
            mm = measure_matmul(dev, dtype, max_n, target_s=0.01 if quick else 0.05, min_s=min_s)
        except (RuntimeError, TypeError) as exc:  # a dtype the device cannot multiply
            record["measurements"][f"matmul_{dtype}"] = {"error": str(exc)}
            record[f"{dtype}_tflops"] = None
            continue
        record["measurements"][f"matmul_{dtype}"] = mm
        record[f"{dtype}_tflops"] = mm["best_tflops"]
    if dev.type == "cuda" and "fp32" in dtypes and not quick:
        # cuBLAS fp32 GEMMs may use TF32 tensor cores when allowed; report that rate separately.
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            record["measurements"]["matmul_tf32"] = measure_matmul(dev, "fp32", max_n, min_s=min_s)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    return record
