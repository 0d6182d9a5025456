"""Peak-memory measurement per phase, on CUDA and on CPU.

CUDA: the caching allocator's own counters (`memory_allocated`, `max_memory_allocated`,
reset per phase) — bytes held by live tensors, the figure the roofline's VRAM model predicts.

CPU: the process's resident-set high-water mark (Linux `VmHWM`), reset at the start of each
phase by writing 5 to `/proc/self/clear_refs` (Linux >= 4.0). It is what the OS had to supply
at the worst moment, so it is sound as a "does it fit in RAM" figure; it also counts allocator
slack (freed but still resident pages) and the interpreter, hence deltas against a baseline.
Where the reset is refused, `ru_maxrss` (the process-lifetime peak) is used and the method
says so: its deltas are only meaningful in a fresh process (the command line runs one).
"""

from __future__ import annotations

import resource
import sys

import torch

_STATUS = "/proc/self/status"


def _status_kib(field: str) -> int | None:
    try:
        with open(_STATUS) as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class MemoryMeter:
    """Current and peak bytes for one device; `reset()` starts a new measured phase."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            self.method = "cuda_max_memory_allocated"
        elif _status_kib("VmHWM") is not None and self._try_reset_hwm():
            self.method = "linux_vmhwm_reset"
        else:
            self.method = "ru_maxrss_lifetime"

    @staticmethod
    def _try_reset_hwm() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            return True
        except OSError:
            return False

    def reset(self) -> None:
        """Start a phase: the next `peak()` covers only what happens from now on."""
        if self.method == "cuda_max_memory_allocated":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.method == "linux_vmhwm_reset":
            self._try_reset_hwm()

    def current(self) -> int:
        """Bytes in use now (CUDA: allocated by tensors; CPU: resident set)."""
        if self.method == "cuda_max_memory_allocated":
            return int(torch.cuda.memory_allocated(self.device))
        rss = _status_kib("VmRSS")
        return rss * 1024 if rss is not None else 0

    def peak(self) -> int:
        """Peak bytes since the last `reset()` (lifetime for `ru_maxrss_lifetime`)."""
        if self.method == "cuda_max_memory_allocated":
            torch.cuda.synchronize(self.device)
            return int(torch.cuda.max_memory_allocated(self.device))
        if self.method == "linux_vmhwm_reset":
            return (_status_kib("VmHWM") or 0) * 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS reports bytes
