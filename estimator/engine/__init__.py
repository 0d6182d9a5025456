"""hwfit's reference engine: a PyTorch MoE transformer that decodes autoregressively and by block diffusion.

Importing this package does not import torch (a Celery worker must not touch CUDA before it
forks, and Django must be able to import the catalog helpers without torch installed); the
functions below import it when called. No Django imports anywhere in this package.

Public API:
    run_engine(config, *, model=None, progress=None) -> dict      one measured run (the record)
    time_passes(config, grid, *, model=None, reps=3, ...) -> list  single-forward timings over a grid
    probe_device(device="auto", *, quick=False) -> dict             achieved bandwidth / matmul rates
    build_model(config) -> Transformer                               to reuse one model across runs
    RunConfig, MODES                                                 the run options (pure Python)
    resolve_architecture, scale_architecture, count_params, get_preset, preset_names   (pure Python)
"""

from __future__ import annotations

from typing import Any

from .arch import Arch, count_params, resolve_architecture, scale_architecture
from .config import MODES, RunConfig
from .presets import get_preset, preset_names


def run_engine(config: Any, **kwargs: Any) -> dict[str, Any]:
    """One measured run; see `estimator.engine.runner.run_engine`."""
    from .runner import run_engine as _run

    return _run(config, **kwargs)


def time_passes(config: Any, grid: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Single-forward timings over a grid of shapes; see `estimator.engine.runner.time_passes`."""
    from .runner import time_passes as _time

    return _time(config, grid, **kwargs)


def build_model(config: Any) -> Any:
    """The model a run of `config` would build; see `estimator.engine.runner.build_model`."""
    from .runner import build_model as _build

    return _build(config)


def probe_device(device: Any = "auto", **kwargs: Any) -> dict[str, Any]:
    """Describe and measure a device; see `estimator.engine.probe.probe_device`."""
    from .probe import probe_device as _probe

    return _probe(device, **kwargs)


__all__ = [
    "Arch", "MODES", "RunConfig", "build_model", "count_params", "get_preset", "preset_names",
    "probe_device", "resolve_architecture", "run_engine", "scale_architecture", "time_passes",
]
