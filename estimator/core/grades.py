"""Usability grades: ONE table of thresholds, shown on the page next to every grade.

| grade | rule (generation tokens/s of one request, the configuration the verdict names) |
|-------|------------------------------------------------------------------------------|
| SS    | >= 100 tok/s                                                                  |
| S     | >= 40 tok/s                                                                   |
| A     | >= 20 tok/s                                                                   |
| B     | >= 10 tok/s                                                                   |
| C     | slower than 10 tok/s, or runs only with partial offload to host memory        |
| F     | does not fit (no configuration up to 8 devices, no offload), or the weight   |
|       | format has no kernels for the device kind                                    |
| ?     | unknown: memory or speed cannot be computed from what the catalog publishes  |

A multi-device verdict is graded on the tensor-parallel speed over the devices it needs.
"""

from __future__ import annotations

import numpy as np

GRADE_THRESHOLDS: tuple[tuple[str, float], ...] = (("SS", 100.0), ("S", 40.0), ("A", 20.0), ("B", 10.0))
GRADE_SLOW = "C"
GRADE_NO_FIT = "F"
GRADE_UNKNOWN = "?"
GRADES = tuple(g for g, _ in GRADE_THRESHOLDS) + (GRADE_SLOW, GRADE_NO_FIT, GRADE_UNKNOWN)


def grade_codes(tokens_per_s: np.ndarray, verdict_code: np.ndarray) -> np.ndarray:
    """Grade per scenario as an index into GRADES; verdict_code indexes memory.VERDICTS."""
    from estimator.core.memory import NO_FIT, OFFLOAD, UNKNOWN, UNSUPPORTED

    tokens_per_s = np.asarray(tokens_per_s, dtype=np.float64)
    verdict_code = np.asarray(verdict_code)
    out = np.full(tokens_per_s.shape, GRADES.index(GRADE_SLOW), dtype=np.int8)
    # Walk thresholds from the lowest so that the highest one met wins.
    for name, threshold in reversed(GRADE_THRESHOLDS):
        out[tokens_per_s >= threshold] = GRADES.index(name)
    out[verdict_code == OFFLOAD] = GRADES.index(GRADE_SLOW)
    out[np.isnan(tokens_per_s)] = GRADES.index(GRADE_UNKNOWN)
    out[(verdict_code == NO_FIT) | (verdict_code == UNSUPPORTED)] = GRADES.index(GRADE_NO_FIT)
    out[verdict_code == UNKNOWN] = GRADES.index(GRADE_UNKNOWN)
    return out


def grade(tokens_per_s: np.ndarray, verdict: np.ndarray) -> np.ndarray:
    """Grade per scenario from its generation speed and memory verdict (strings of VERDICTS)."""
    from estimator.core.memory import VERDICTS

    codes = np.array([VERDICTS.index(v) for v in np.asarray(verdict, dtype=object)], dtype=np.int8)
    return np.array(GRADES, dtype=object)[grade_codes(tokens_per_s, codes)]
