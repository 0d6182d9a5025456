"""Calibration API and pages: staff request runs and import measured runs; anyone reads; bad input is a 400."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from devices.models import Device
from estimator.calibration.fits import calibration_fit_runtime
from estimator.calibration.imports import MeasuredImportError, measured_runs_import
from estimator.models import CalibrationFit, CalibrationRun, MeasuredRun
from models_catalog.models import Runtime

pytestmark = pytest.mark.django_db
DEV_CSV = Path(settings.BASE_DIR) / "fixtures" / "sources" / "measured_runs_dev.csv"
MD = """| model | size | params | backend | ngl | test | t/s |
| --- | ---: | ---: | --- | --: | ---: | ---: |
| llama 8B Q4_K - Medium | 4.58 GiB | 8.03 B | CUDA | 99 | pp512 | 11245.12 ± 95.21 |
| llama 8B Q4_K - Medium | 4.58 GiB | 8.03 B | CUDA | 99 | tg128 | 127.70 ± 0.11 |
"""


@pytest.fixture
def staff(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def _device_csv(name: str) -> str:
    rows = [r for r in csv.DictReader(DEV_CSV.open()) if r["device"] == name]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_only_staff_request_a_calibration(plain_user, staff, django_capture_on_commit_callbacks):
    anonymous = APIClient()
    assert anonymous.post("/api/v1/calibrations/", {"device": "amd-epyc-9654-genoa"}, format="json").status_code == 401
    anonymous.force_authenticate(plain_user)
    assert anonymous.post("/api/v1/calibrations/", {"device": "amd-epyc-9654-genoa"}, format="json").status_code == 403
    with django_capture_on_commit_callbacks(execute=False):
        response = staff.post("/api/v1/calibrations/", {"device": "amd-epyc-9654-genoa", "preset": "tiny"}, format="json")
    assert response.status_code == 201
    assert {k: response.data[k] for k in ("status", "progress", "device", "preset", "queue")} == {
        "status": "queued", "progress": 0.0, "device": "amd-epyc-9654-genoa", "preset": "tiny",
        "queue": "calibrate.amd-epyc-9654-genoa"}
    listed = APIClient().get("/api/v1/calibrations/").data
    assert listed["results"][0]["id"] == response.data["id"]


def test_a_bad_request_names_the_field(staff):
    assert staff.post("/api/v1/calibrations/", {"device": "no-such"}, format="json").data.keys() == {"device"}
    bad_grid = staff.post("/api/v1/calibrations/", {"device": "amd-epyc-9654-genoa",
                                                    "grid": [{"shape": "x", "config": {"arch": "tiny-dense"},
                                                              "points": [{"kind": "ar_step", "batch": 0, "queries": 1}]}]},
                          format="json")
    assert bad_grid.status_code == 400 and "batch" in bad_grid.data["grid"][0]
    assert not CalibrationRun.objects.exists()


def test_a_run_that_finished_cannot_be_cancelled(staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run_id = staff.post("/api/v1/calibrations/", {"device": "amd-epyc-9654-genoa", "preset": "tiny"},
                            format="json").data["id"]
    assert staff.post(f"/api/v1/calibrations/{run_id}/cancel/").data["status"] == "cancelled"
    assert staff.post(f"/api/v1/calibrations/{run_id}/cancel/").status_code == 409


def test_an_import_with_a_bad_line_stores_nothing_and_lists_it(staff):
    response = staff.post("/api/v1/measured-runs/import/", {
        "format": "llama-bench-md", "text": MD.replace("127.70", "fast"), "model": "llama-3-1-8b",
        "quantization": "q4-k-m", "device": "NVIDIA GeForce RTX 4090"}, format="json")
    assert response.status_code == 400
    assert response.data["lines"] == [{"line": 4, "field": "t/s", "reason": "not a positive number: 'fast ± 0.11'"}]
    assert not MeasuredRun.objects.exists()


def test_a_llama_bench_upload_becomes_linked_measured_runs(staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = staff.post("/api/v1/measured-runs/import/", {
        "format": "llama-bench-md", "file": SimpleUploadedFile("bench.md", MD.encode()), "model": "llama-3-1-8b",
        "quantization": "Q4_K_M", "device": "nvidia-geforce-rtx-4090"}, format="multipart")
    assert response.status_code == 201 and response.data["stored"] == 2
    rows = MeasuredRun.objects.order_by("pk")
    assert [(r.metric, r.test, r.tokens_per_s, r.model.slug, r.quantization.slug, r.device.slug, r.runtime.slug)
            for r in rows] == [
        ("prefill", "pp512", 11245.12, "llama-3-1-8b", "q4-k-m", "nvidia-geforce-rtx-4090", "llama-cpp"),
        ("decode", "tg128", 127.70, "llama-3-1-8b", "q4-k-m", "nvidia-geforce-rtx-4090", "llama-cpp")]


def test_unknown_catalog_names_are_bad_lines():
    with pytest.raises(MeasuredImportError) as caught:
        measured_runs_import(text=MD, fmt="llama-bench-md",
                             defaults={"model": "no-model", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090"})
    assert caught.value.errors[0] == {"line": 3, "field": "model", "reason": "no catalog model 'no-model'"}


def test_fitting_a_devices_imported_runs_brings_its_decode_error_down():
    result = measured_runs_import(text=_device_csv("NVIDIA RTX 4000 Ada Generation"), fmt="csv")
    device = Device.objects.get(name="NVIDIA RTX 4000 Ada Generation")
    fit = calibration_fit_runtime(device=device, runtime=Runtime.objects.get(slug="llama-cpp"))
    # 46 lines: 40 llama-bench runs of a 2024 build, 6 of a 2023 build (another era, not fitted).
    assert len(result.stored) == 46 and fit.n_runs == 40
    decode = fit.detail["band_by_metric"]["decode"]
    prior = fit.detail["prior_band"]
    assert decode["median_pct"] < prior["median_pct"]
    ledger = APIClient().get("/api/v1/accuracy/", {"device": device.slug}).data["results"]
    pair = next(r for r in ledger if r["grouping"] == "device_runtime" and r["metric"] == "decode")
    assert pair["runtime"] == "llama-cpp" and pair["n"] > 0
    assert APIClient().get("/api/v1/fits/").data["results"][0]["id"] == fit.pk
    # The next estimate of that pair is calibrated, with the fit's band and the ledger beside it.
    estimate = APIClient().post("/api/v1/estimate/", {"model": "llama-3-1-8b", "quantization": "q4-k-m",
                                                      "device": device.slug, "runtime": "llama-cpp"}, format="json").data
    assert estimate["calibrated"] is True
    assert estimate["error_band"] == pytest.approx(fit.error_median_pct / 100.0)
    assert estimate["accuracy"]["n"] == pair["n"] and estimate["accuracy"]["median_pct"] == pair["median_pct"]


def test_the_pages_show_runs_and_fits_with_a_local_plotly(client):
    device = Device.objects.get(slug="nvidia-geforce-rtx-4090")
    run = CalibrationRun.objects.create(device=device, runtime=Runtime.objects.get(slug="reference"),
                                        grid=[{"shape": "x", "config": {}, "points": []}], queue="q", total=1)
    fit = CalibrationFit.objects.create(
        device=device, runtime=run.runtime, run=run, eff_m=0.5, eff_c=0.4, eff_attn=0.1, t_fixed_s=1e-3, t_layer_s=0,
        error_median_pct=5.0, n_runs=3, folds=3,
        detail={"runs": [{"label": "</script><b>", "metric": "decode", "measured_tok_s": 10.0, "fitted_tok_s": 11.0,
                          "cv_tok_s": 12.0, "prior_tok_s": 9.0}]})
    for url in ("/calibration/", f"/calibration/runs/{run.pk}/", f"/calibration/fits/{fit.pk}/"):
        page = client.get(url)
        assert page.status_code == 200
    html = client.get(f"/calibration/fits/{fit.pk}/").content.decode()
    assert "/static/vendor/plotly.min.js" in html and "cdn" not in html.lower()
    assert "</script><b>" not in html
    assert (Path(settings.BASE_DIR) / "static" / "vendor" / "plotly.min.js").stat().st_size > 1_000_000


def test_staff_request_a_calibration_from_the_page(client, staff_user, django_capture_on_commit_callbacks):
    device = Device.objects.get(slug="amd-epyc-9654-genoa")
    assert client.post("/calibration/request/", {"device": device.pk}).status_code == 302   # to the login
    assert not CalibrationRun.objects.exists()
    client.force_login(staff_user)
    assert 'action="/calibration/request/"' in client.get("/calibration/").content.decode()
    assert client.post("/calibration/request/", {"device": "", "preset": "tiny"}).status_code == 400
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/calibration/request/", {"device": device.pk, "preset": "tiny"})
    run = CalibrationRun.objects.get()
    assert response.url == f"/calibration/runs/{run.pk}/" and run.requested_by == staff_user and len(callbacks) == 1


def test_staff_request_a_calibration_from_the_admin(admin_client, admin_user, django_capture_on_commit_callbacks):
    url = "/admin/estimator/calibrationrun/request/"
    assert admin_client.get("/admin/estimator/calibrationrun/add/").url == url   # "add" is this request form
    response = admin_client.post(url, {"device": "", "preset": "tiny"})
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    assert not CalibrationRun.objects.exists()
    device = Device.objects.get(slug="amd-epyc-9654-genoa")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(url, {"device": device.pk, "preset": "tiny", "threads": 1})
    run = CalibrationRun.objects.get()
    assert response.url == f"/calibration/runs/{run.pk}/"
    assert run.requested_by == admin_user and run.status == "queued" and len(callbacks) == 1
