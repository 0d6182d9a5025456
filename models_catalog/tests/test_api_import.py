"""POST /api/v1/models/import-config/: staff read a config.json into the catalog; bad input is a named 400."""

from __future__ import annotations

import pickle

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from hwfit.tests.api_fixtures import (  # noqa: F401 (fixtures)
    api, api_plain_user, api_staff_user, plain_api, staff_api, unthrottled,
)
from models_catalog.models import ModelArchitecture, QuantizationFormat
from models_catalog.tests import hf_configs

URL = "/api/v1/models/import-config/"
pytestmark = pytest.mark.django_db


def test_it_is_for_staff_only(api, plain_api):
    assert api.post(URL, {"config": hf_configs.PHI_4}, format="json").status_code == 401
    assert plain_api.post(URL, {"config": hf_configs.PHI_4}, format="json").status_code == 403


def test_staff_import_a_config_and_it_is_saved_with_counted_parameters(staff_api):
    response = staff_api.post(URL, {"config": hf_configs.MIXTRAL_8X7B, "name": "Mixtral mine"}, format="json")
    assert response.status_code == 201, response.json()
    saved = ModelArchitecture.objects.get(slug="mixtral-mine")
    # 46,702,792,704 total and 12,879,925,248 active (test_importers_hf_config.py works them out).
    assert saved.total_params_b == pytest.approx(46.702792704)
    assert saved.active_params_b == pytest.approx(12.879925248)
    assert response.json()["slug"] == "mixtral-mine" and "total_params_b" in saved.derived_fields


def test_a_dry_run_answers_the_record_and_saves_nothing(staff_api):
    before = ModelArchitecture.objects.count()
    response = staff_api.post(URL, {"config": hf_configs.GEMMA_2_9B, "dry_run": True}, format="json")
    assert response.status_code == 200
    assert response.json()["n_global_layers"] == 21
    assert ModelArchitecture.objects.count() == before


def test_a_missing_key_is_a_400_naming_it(staff_api):
    config = {k: v for k, v in hf_configs.LLAMA_3_1_8B.items() if k != "hidden_size"}
    response = staff_api.post(URL, {"config": config}, format="json")
    assert response.status_code == 400
    assert "config.json has no 'hidden_size'" in response.json()["config"][0]


def test_a_name_the_catalog_has_is_a_400_on_name(staff_api):
    response = staff_api.post(URL, {"config": hf_configs.LLAMA_3_1_8B, "name": "Llama 3.1 8B"}, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["name"][0]


def test_an_uploaded_file_is_read_as_json(staff_api):
    import json

    upload = SimpleUploadedFile("config.json", json.dumps(hf_configs.PHI_3_MINI).encode(), "application/json")
    response = staff_api.post(URL, {"file": upload, "name": "Phi-3 mine"}, format="multipart")
    assert response.status_code == 201, response.json()
    assert ModelArchitecture.objects.get(slug="phi-3-mine").n_layers == 32


def test_an_upload_over_the_limit_is_refused_unread(staff_api, settings):
    settings.HWFIT_CONFIG_MAX_BYTES = 100
    upload = SimpleUploadedFile("config.json", b"{" + b" " * 200 + b"}", "application/json")
    response = staff_api.post(URL, {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json()["file"] == ["The config.json is 202 bytes; the limit is 100 bytes."]


class _Tripwire:
    """Unpickling this would create a file: the import must never unpickle."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_is_never_executed(staff_api, tmp_path):
    marker = tmp_path / "executed"
    upload = SimpleUploadedFile("config.json", pickle.dumps(_Tripwire(str(marker))), "application/octet-stream")
    response = staff_api.post(URL, {"file": upload}, format="multipart")
    assert response.status_code == 400 and "Not valid JSON" in response.json()["file"][0]
    assert not marker.exists()


def test_an_estimate_reads_an_inline_config_and_saves_nothing(api):
    count = ModelArchitecture.objects.count()
    scenario = {"model": {"config": hf_configs.LLAMA_3_1_8B}, "quantization": "q4-k-m",
                "device": "nvidia-geforce-rtx-4090"}
    response = api.post("/api/v1/estimate/", scenario, format="json")
    assert response.status_code == 200, response.json()
    # The config's 8,030,261,248 parameters at Q4_K_M's effective bits per weight.
    bits = QuantizationFormat.objects.get(slug="q4-k-m").bits_per_weight
    assert response.json()["memory"]["weights_bytes"] == pytest.approx(8_030_261_248 * bits / 8)
    assert response.json()["model"]["inline"] is True
    assert ModelArchitecture.objects.count() == count


def test_an_estimate_names_the_configs_missing_key(api):
    config = {k: v for k, v in hf_configs.LLAMA_3_1_8B.items() if k != "num_attention_heads"}
    response = api.post("/api/v1/estimate/", {"model": {"config": config}, "quantization": "q4-k-m",
                                              "device": "nvidia-geforce-rtx-4090"}, format="json")
    assert response.status_code == 400
    assert "no 'num_attention_heads'" in response.json()["model"]["config"][0]
