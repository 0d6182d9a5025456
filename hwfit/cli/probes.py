"""What this machine has: accelerators (nvidia-smi, rocm-smi, Apple sysctl/system_profiler), CPU and memory.

Every probe goes through a `Runner` (argv -> stdout, or None when the tool is missing or fails)
and a file reader, so tests hand in the outputs of an NVIDIA, an AMD or an Apple machine. No
probe needs Django; `match_device` compares the result with catalog rows given as plain dicts.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Runner = Callable[[Sequence[str]], "str | None"]
FileReader = Callable[[str], "str | None"]
GB = 1e9
# The catalog's memory_gb is binary (an "80 GB" H100 holds 80 GiB: estimator/core/units.py).
GIB = 2**30
# CPU features that change how fast a runtime's kernels go (llama.cpp picks kernels by them).
CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16",
             "amx_int8", "asimd", "sve", "i8mm", "bf16")


def run_command(argv: Sequence[str]) -> str | None:
    """stdout of a probe tool, or None when it is not installed, fails or hangs."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


@dataclass
class Accelerator:
    vendor: str
    name: str
    kind: str                      # "gpu" or "apple"
    memory_gb: float | None
    count: int = 1
    probe: str = ""                # the tool that reported it
    gpu_cores: int | None = None   # Apple: the GPU core count picks the catalog bin


@dataclass
class Host:
    cpu: str
    vendor: str
    cores: int | None
    memory_gb: float | None
    flags: list[str] = field(default_factory=list)
    # Measured by `measure_host` when asked: a copy's bandwidth and a float32 GEMM's rate.
    measured_bandwidth_gbs: float | None = None
    measured_fp32_tflops: float | None = None


@dataclass
class Machine:
    accelerators: list[Accelerator]
    host: Host
    probes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _nvidia(run: Runner) -> list[Accelerator]:
    out = run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"])
    if not out:
        return []
    found: dict[tuple[str, float | None], int] = {}
    for line in out.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) < 2 or not parts[0]:
            continue
        try:
            memory = round(float(parts[1]) / 1024, 1)  # MiB -> GiB
        except ValueError:
            memory = None
        found[(parts[0], memory)] = found.get((parts[0], memory), 0) + 1
    return [Accelerator("NVIDIA", name, "gpu", memory, count, "nvidia-smi") for (name, memory), count in found.items()]


def _amd(run: Runner) -> list[Accelerator]:
    out = run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"])
    if not out:
        return []
    try:
        cards = json.loads(out)
    except ValueError:
        return []
    found: dict[tuple[str, float | None], int] = {}
    for key, card in cards.items() if isinstance(cards, dict) else []:
        if not key.startswith("card") or not isinstance(card, dict):
            continue
        name = str(card.get("Card Series") or card.get("Card series") or card.get("Card SKU") or "").strip()
        memory_bytes = card.get("VRAM Total Memory (B)")
        try:
            memory = round(int(memory_bytes) / GIB, 1) if memory_bytes is not None else None
        except ValueError:
            memory = None
        if name:
            found[(name, memory)] = found.get((name, memory), 0) + 1
    return [Accelerator("AMD", name, "gpu", memory, count, "rocm-smi") for (name, memory), count in found.items()]


def _apple(run: Runner) -> tuple[list[Accelerator], Host | None]:
    brand = (run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
    if not brand.startswith("Apple"):
        return [], None
    memsize = (run(["sysctl", "-n", "hw.memsize"]) or "").strip()
    memory = round(int(memsize) / GIB, 1) if memsize.isdigit() else None
    cores_text = (run(["sysctl", "-n", "hw.ncpu"]) or "").strip()
    cores = None
    try:
        displays = json.loads(run(["system_profiler", "SPDisplaysDataType", "-json"]) or "{}")
        for display in displays.get("SPDisplaysDataType", []):
            if str(display.get("sppci_cores", "")).isdigit():
                cores = int(display["sppci_cores"])
    except (ValueError, AttributeError):
        pass
    flags = ["asimd"] + (["i8mm", "bf16"] if re.search(r"M[2-9]", brand) else [])
    host = Host(cpu=brand, vendor="Apple", cores=int(cores_text) if cores_text.isdigit() else None,
                memory_gb=memory, flags=flags)
    return [Accelerator("Apple", brand, "apple", memory, 1, "sysctl", gpu_cores=cores)], host


def _linux_host(read: FileReader) -> Host:
    cpuinfo = read("/proc/cpuinfo") or ""
    meminfo = read("/proc/meminfo") or ""
    model = re.search(r"^(?:model name|Model|Hardware)\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    vendor = re.search(r"^vendor_id\s*:\s*(\S+)", cpuinfo, re.MULTILINE)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s*(\d+)\s*kB", meminfo, re.MULTILINE)
    cores = len(re.findall(r"^processor\s*:", cpuinfo, re.MULTILINE)) or None
    vendor_name = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(vendor.group(1) if vendor else "", "")
    present = set(flags.group(1).split()) if flags else set()
    return Host(
        cpu=model.group(1).strip() if model else "unknown CPU",
        vendor=vendor_name,
        cores=cores,
        memory_gb=round(int(memory.group(1)) * 1024 / GIB, 1) if memory else None,
        flags=[flag for flag in CPU_FLAGS if flag in present],
    )


def probe_machine(*, run: Runner = run_command, read: FileReader = read_text) -> Machine:
    """Accelerators and host of this machine, from whichever probes answer."""
    accelerators = _nvidia(run) + _amd(run)
    probes = [p for p, found in (("nvidia-smi", any(a.probe == "nvidia-smi" for a in accelerators)),
                                 ("rocm-smi", any(a.probe == "rocm-smi" for a in accelerators))) if found]
    apple, apple_host = _apple(run)
    if apple_host is not None:
        return Machine(accelerators + apple, apple_host, [*probes, "sysctl", "system_profiler"])
    return Machine(accelerators, _linux_host(read), [*probes, "/proc/cpuinfo", "/proc/meminfo"])


def measure_host(host: Host, *, megabytes: int = 256) -> Host:
    """Measure the host's memory bandwidth (a numpy copy) and float32 GEMM rate, best of three.

    A CPU's catalog row rarely states the DIMMs it is paired with; a measured copy bandwidth is
    what a memory-bound decode on this machine actually gets.
    """
    import numpy as np

    source = np.ones(megabytes * 1024 * 1024 // 8)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    host.measured_bandwidth_gbs = round(2 * source.nbytes / best / GB, 1)  # read + write
    n = 1024
    a = np.ones((n, n), dtype=np.float32)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    host.measured_fp32_tflops = round(2 * n**3 / best / 1e12, 3)
    return host


# --- Matching a probe to the catalog ------------------------------------------------------------

_NOISE = {"nvidia", "geforce", "amd", "radeon", "apple", "intel", "corporation", "graphics", "inc", "the",
          "ati", "advanced", "micro", "devices", "tm", "r", "cpu", "processor", "with", "core"}


def _tokens(text: str) -> list[str]:
    return [t for t in re.findall(r"[a-z0-9]+", text.lower().replace("+", " plus ")) if t not in _NOISE]


def _model_tokens(tokens: Iterable[str]) -> set[str]:
    """The tokens that name a part (4090, h100, m2, mi300x), not its memory (24gb) or memory type."""
    return {t for t in tokens if re.search(r"\d", t) and not re.fullmatch(r"\d+(gb|g|gib)|hbm\d\w*|gddr\d\w*", t)}


def match_device(name: str, memory_gb: float | None, devices: Sequence[dict[str, Any]], *, kind: str,
                 gpu_cores: int | None = None) -> dict[str, Any] | None:
    """The catalog device a probed name is, or None.

    Every part-number token of the probe (4090, h100, m2) must be in the catalog name; among those,
    the catalog row whose own part numbers are all in the probe, then the nearest memory, then the
    fewest extra words win. Apple bins are picked by GPU core count when the probe gives it.
    """
    probe_tokens = _tokens(name)
    wanted = _model_tokens(probe_tokens)
    if not wanted:
        return None
    candidates = []
    for device in devices:
        if device.get("kind") != kind:
            continue
        tokens = _tokens(str(device.get("name", "")))
        have = set(tokens)
        if not wanted <= have:
            continue
        extra_parts = _model_tokens(tokens) - set(probe_tokens)
        if gpu_cores is not None and kind == "apple":
            # "Apple M2 Max (38-core GPU)": a stated core count must be the probe's.
            stated = re.search(r"(\d+)\s*core", str(device.get("name", "")).lower())
            if stated and int(stated.group(1)) != gpu_cores:
                continue
            extra_parts -= {str(gpu_cores)}
        # A variant that states the probe's GPU core count is that exact part.
        states_cores = gpu_cores is not None and re.search(rf"\b{gpu_cores}\s*-?\s*core", str(device.get("name", "")).lower())
        memory = device.get("memory_gb")
        distance = abs(memory - memory_gb) if memory is not None and memory_gb is not None else 1e9
        extra_words = len(have - set(probe_tokens))
        candidates.append((len(extra_parts), not states_cores, distance, extra_words, str(device.get("name", "")), device))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[:5])[5]


def inline_device(machine: Machine) -> dict[str, Any]:
    """This host as an inline catalog device (kind cpu): its memory and what was measured."""
    host = machine.host
    measured = host.measured_bandwidth_gbs is not None
    return {
        "name": f"{host.cpu} ({host.memory_gb:g} GB)" if host.memory_gb else host.cpu,
        "vendor": host.vendor or "unknown",
        "kind": "cpu",
        "memory_gb": host.memory_gb,
        "memory_bandwidth_gbs": host.measured_bandwidth_gbs,
        "fp32_tflops": host.measured_fp32_tflops,
        "source": "hwfit detect: /proc/meminfo" + ("; bandwidth and FP32 measured on this machine" if measured else ""),
    }

