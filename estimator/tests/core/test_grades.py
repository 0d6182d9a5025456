"""The grade table (grades.py) and its edges."""

from __future__ import annotations

import numpy as np

from estimator.core.grades import GRADE_THRESHOLDS, grade


def test_it_grades_on_the_documented_thresholds():
    speeds = np.array([150.0, 100.0, 99.9, 40.0, 39.9, 20.0, 10.0, 9.99, 1.0])
    assert grade(speeds, np.full(9, "fits")).tolist() == ["SS", "SS", "S", "S", "A", "A", "B", "C", "C"]
    assert dict(GRADE_THRESHOLDS) == {"SS": 100.0, "S": 40.0, "A": 20.0, "B": 10.0}


def test_it_caps_offload_at_c_and_fails_what_does_not_fit():
    verdicts = np.array(["offload", "no_fit", "unknown", "multi_device"])
    assert grade(np.array([150.0, 150.0, 150.0, 150.0]), verdicts).tolist() == ["C", "F", "?", "SS"]


def test_it_says_unknown_without_a_speed():
    assert grade(np.array([np.nan]), np.array(["fits"])).tolist() == ["?"]
