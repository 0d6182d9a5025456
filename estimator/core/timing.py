"""Timing: seconds of every prepared workload at a set of efficiencies.

`preparation.prepare` reduces each workload to its efficiency-free pass terms once; this module
prices them at the efficiencies (priors or a calibration), so the same preparation can be timed
at other efficiencies without being redone.
"""

from __future__ import annotations

import numpy as np

from estimator.core.preparation import Prepared
from estimator.core.workloads import SlotsTime, reduced_time, with_working


def times(prep: Prepared, *efficiencies) -> dict[str, SlotsTime]:
    """Seconds of every prepared workload at these efficiencies (`workloads.reduced_time` order).

    Workloads prepared for a subset of rows (diffusion) are timed on it and come back full
    length, NaN elsewhere.
    """
    n = len(prep.batch)
    done: dict[int, SlotsTime] = {}
    out = {}
    for name, red in prep.reduced.items():
        # "decode1" is "decode" when every batch is 1: time the same terms once.
        if id(red) not in done:
            if isinstance(red, tuple):
                terms, rows = red
                part = [e[rows] if np.ndim(e) and np.size(e) == n else e for e in efficiencies]
                done[id(red)] = _expand_time(with_working(reduced_time(terms, *part), terms), rows, n)
            else:
                done[id(red)] = with_working(reduced_time(red, *efficiencies), red)
        out[name] = done[id(red)]
    return out


def _expand_time(t: SlotsTime, rows: np.ndarray, n: int) -> SlotsTime:
    values = {}
    for name in ("total", "compute", "memory", "overhead", "flops", "traffic", "passes"):
        full = np.full(n, np.nan)
        full[rows] = getattr(t, name)
        values[name] = full
    bound = np.zeros(n, dtype=np.int64)
    bound[rows] = t.bound
    return SlotsTime(bound=bound, **values)
