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

A grade is for the configuration the answer describes. When that is more than one device, the
grade says so: "S×4" is S on four devices (tensor parallel), never the bare "S" of one device,
and `configuration_note` says when that is not the device count asked about.
"""

from __future__ import annotations

import numpy as np

from estimator.core.architecture import nan_to_num

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


def configuration_grades(codes: np.ndarray, n_devices: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Grades (indices into GRADES) as labels, "×n" appended where the configuration is n > 1 devices:
    each row's code into the labels, and the labels (outputs.py makes them the text it gives).

    F and ? stay bare: they grade the device asked about, not a configuration.
    """
    codes = np.asarray(codes, dtype=np.int64)
    n = nan_to_num(np.asarray(n_devices, dtype=np.float64), nan=1.0).astype(np.int64)
    n = np.where((codes == GRADES.index(GRADE_NO_FIT)) | (codes == GRADES.index(GRADE_UNKNOWN)), 1, n)
    # Distinct (grade, devices) pairs as one integer each: a 1-D unique sorts far faster than pairs.
    pairs, inverse = np.unique((codes << 32) | np.maximum(n, 1), return_inverse=True)
    labels = [GRADES[c] if k <= 1 else f"{GRADES[c]}\u00d7{k}" for c, k in zip(pairs >> 32, pairs & 0xFFFFFFFF)]
    categories = list(GRADES) + sorted(set(labels) - set(GRADES))
    label_codes = np.array([categories.index(label) for label in labels], dtype=np.int64)
    return label_codes[inverse.ravel()], categories


def configuration_notes(n_devices: np.ndarray, n_asked: np.ndarray,
                        verdict_code: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """'' or "figures for n devices; the scenario asked about m" where the two differ (codes, labels)."""
    from estimator.core.memory import MULTI_DEVICE

    used = nan_to_num(np.asarray(n_devices, dtype=np.float64), nan=1.0).astype(np.int64)
    asked = nan_to_num(np.asarray(n_asked, dtype=np.float64), nan=1.0).astype(np.int64)
    differs = (used != asked) | (np.asarray(verdict_code) == MULTI_DEVICE)
    key = np.where(differs, used * 1000 + asked, 0)
    distinct, inverse = np.unique(key, return_inverse=True)
    labels = ["" if k == 0 else f"figures for {k // 1000} devices in tensor parallel; the scenario asked about "
              f"{k % 1000}" for k in distinct]
    # One label per distinct key: the rows' codes into the labels sorted (as a pd.Categorical of
    # them sorts its categories), without hashing a string per row.
    order = sorted(range(len(labels)), key=labels.__getitem__)
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    return rank[inverse.ravel()], [labels[i] for i in order]


def grade_rank(label: str | None) -> int:
    """Sort key of a grade label: its letter's place in GRADES ("S×4" ranks as "S"); unknown last."""
    letter = (label or "").split("\u00d7", 1)[0]
    return GRADES.index(letter) if letter in GRADES else len(GRADES)
