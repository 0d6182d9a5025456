"""The import page (anyone reads, staff save) and the model admin's "Import config.json" view."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from models_catalog.models import ModelArchitecture
from models_catalog.tests import hf_configs
from models_catalog.tests.gguf_files import write_tiny_llama

pytestmark = pytest.mark.django_db


def test_anyone_reads_a_pasted_config_and_nothing_is_saved(client):
    count = ModelArchitecture.objects.count()
    response = client.post("/models/import/", {"config_text": json.dumps(hf_configs.QWEN3_30B_A3B), "save": "1"})
    assert response.status_code == 200
    page = response.content.decode()
    # 30,532,122,624 total and 3,353,032,704 active parameters, shown to three decimals.
    assert "30.532" in page and "3.353" in page and 'id="import-preview"' in page
    assert "Read and save" not in page
    assert ModelArchitecture.objects.count() == count


def test_the_page_names_a_missing_key_next_to_the_field(client):
    response = client.post("/models/import/", {"config_text": '{"model_type": "llama", "num_hidden_layers": 2}'})
    assert response.status_code == 400
    assert "config.json has no &#x27;hidden_size&#x27;" in response.content.decode()


def test_a_gguf_upload_shows_its_bytes_per_group(client, tmp_path):
    path = write_tiny_llama(tmp_path / "tiny.gguf")
    # Only the start of the file: the header is enough.
    header = SimpleUploadedFile("tiny-header.gguf", path.read_bytes()[:4096])
    response = client.post("/models/import/", {"upload": header})
    page = response.content.decode()
    assert response.status_code == 200, page
    assert 'id="gguf-groups"' in page and "Q4_K ×6" in page and "442368" in page
    assert "The upload ends after the header" in page


def test_an_oversized_upload_is_refused(client, settings):
    settings.HWFIT_GGUF_UPLOAD_MAX_BYTES = 1000
    response = client.post("/models/import/", {"upload": SimpleUploadedFile("big.gguf", b"GGUF" + b"\0" * 2000)})
    assert response.status_code == 400
    assert "the limit is 1,000 bytes" in response.content.decode()


def test_staff_save_from_the_page_and_land_on_the_model(client, staff_user):
    client.force_login(staff_user)
    response = client.post("/models/import/", {"config_text": json.dumps(hf_configs.DREAM_7B), "name": "Dream mine",
                                               "save": "1"})
    assert response.status_code == 302 and response["Location"] == "/models/dream-mine/"
    saved = ModelArchitecture.objects.get(slug="dream-mine")
    assert (saved.generation_mode, saved.diffusion_attention) == ("block_diffusion", "full")


def test_the_admin_imports_an_uploaded_config(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/admin/models_catalog/modelarchitecture/").content.decode().count("import-config/") == 1
    upload = SimpleUploadedFile("config.json", json.dumps(hf_configs.GEMMA_4_31B).encode())
    response = client.post("/admin/models_catalog/modelarchitecture/import-config/",
                           {"upload": upload, "name": "Gemma 4 31B mine", "save": "1"})
    saved = ModelArchitecture.objects.get(slug="gemma-4-31b-mine")
    assert response.status_code == 302 and response["Location"].endswith(f"/{saved.pk}/change/")
    assert (saved.n_global_layers, saved.global_head_dim, saved.global_kv_shared) == (10, 512, True)
    # Saving the same name again is a form error, not a second record or a 500.
    upload = SimpleUploadedFile("config.json", json.dumps(hf_configs.GEMMA_4_31B).encode())
    response = client.post("/admin/models_catalog/modelarchitecture/import-config/",
                           {"upload": upload, "name": "Gemma 4 31B mine", "save": "1"})
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert ModelArchitecture.objects.filter(slug="gemma-4-31b-mine").count() == 1
