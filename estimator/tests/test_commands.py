"""The estimator's management commands: fit_priors and accuracy_report, on the repository's dev files."""

from __future__ import annotations

import csv
import json
import math
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from estimator.core.priors import load_priors
from hwfit.testing import require_files

DATA = Path(settings.HWFIT_SHARED_DATA)
DEV_FILES = ("measured_runs_dev.csv", "diffusion_runs_dev.csv")
require_files(*(DATA / name for name in DEV_FILES))


def dev_rows() -> set[tuple[str, int]]:
    """(file, row index) of every run in the two dev CSVs."""
    rows = set()
    for name in DEV_FILES:
        with open(DATA / name, newline="", encoding="utf-8") as handle:
            rows |= {(name, index) for index, _ in enumerate(csv.DictReader(handle))}
    return rows


def test_fit_priors_writes_a_priors_file_that_accounts_for_every_dev_row(tmp_path):
    out = StringIO()
    call_command("fit_priors", "--no-lodo", "--out", str(tmp_path / "priors.json"), stdout=out)
    document = json.loads((tmp_path / "priors.json").read_text())
    fit = document["fit"]
    # Every run of the dev files is either fitted or excluded with a reason.
    assert sum(fit["rows_fitted"].values()) + fit["rows_excluded"] == len(dev_rows())
    assert document["groups"] and all(math.isfinite(group["eff_m"]) and group["eff_m"] > 0 for group in document["groups"])
    assert f"fitted {len(document['groups'])} groups" in out.getvalue()
    # The file is what the estimator loads.
    assert load_priors(tmp_path / "priors.json")["groups"] == document["groups"]


def test_accuracy_report_writes_a_summary_and_a_row_per_dev_run(tmp_path):
    out = StringIO()
    call_command("accuracy_report", "--no-lodo", "--out", str(tmp_path / "accuracy.csv"), stdout=out)
    with open(tmp_path / "accuracy_rows.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # Every run of the dev files has its row(s) (a run measured at two settings has two).
    assert {(row["source_file"], int(row["source_row"])) for row in rows} == dev_rows()
    with open(tmp_path / "accuracy.csv", newline="", encoding="utf-8") as handle:
        summary = list(csv.DictReader(handle))
    overall = {row["metric"] for row in summary if row["grouping"] == "overall"}
    assert {"decode", "prefill", "diffusion"} <= overall
    assert "excluded rows (not predictable from the catalog)" in out.getvalue()
    assert f"wrote {tmp_path / 'accuracy.csv'}" in out.getvalue()
