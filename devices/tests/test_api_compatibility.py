"""GET /api/v1/devices/{slug}/compatibility/: every model on one device, JSON pages or one CSV."""

import csv
import io

import pytest

from hwfit.tests.api_fixtures import api, unthrottled  # noqa: F401
from models_catalog.models import ModelArchitecture, QuantizationFormat

pytestmark = pytest.mark.django_db

URL = "/api/v1/devices/nvidia-geforce-rtx-4090/compatibility/"


def test_it_estimates_every_model_on_the_device(api):
    body = api.get(URL, {"quantization": "q4-k-m", "page_size": 100}).json()
    assert body["count"] == ModelArchitecture.objects.count()
    assert {row["device"]["slug"] for row in body["results"]} == {"nvidia-geforce-rtx-4090"}
    assert {row["model"]["slug"] for row in body["results"]} == set(ModelArchitecture.objects.values_list("slug", flat=True))


def test_it_says_which_models_fit(api):
    rows = api.get(URL, {"quantization": "q4-k-m", "page_size": 100}).json()["results"]
    verdicts = {row["model"]["slug"]: (row["fits"], row["verdict"]) for row in rows}
    assert verdicts["llama-3-1-8b"] == (True, "fits")
    assert verdicts["llama-3-1-405b"][0] is False


def test_the_mode_chooses_the_figure_and_leaves_autoregressive_models_without_a_diffusion_speed(api):
    rows = api.get(URL, {"quantization": "bf16", "mode": "diffusion", "page_size": 100}).json()["results"]
    by_slug = {row["model"]["slug"]: row for row in rows}
    assert by_slug["llama-3-1-8b"]["tokens_per_s"] is None
    assert by_slug["sdar-8b-chat"]["tokens_per_s"] == by_slug["sdar-8b-chat"]["speed"]["diffusion_tokens_per_s"]


def test_it_flags_the_models_whose_window_is_shorter_than_the_context(api):
    rows = api.get(URL, {"quantization": "q4-k-m", "context_tokens": 200_000, "page_size": 100}).json()["results"]
    within = {row["model"]["slug"]: row["context_within_window"] for row in rows}
    # Llama 3.1 8B reads 131,072 tokens, DiffusionGemma 262,144; SDAR publishes no window.
    assert (within["llama-3-1-8b"], within["diffusiongemma-26b-a4b-it"], within["sdar-8b-chat"]) == (False, True, None)


def test_it_downloads_the_whole_table_as_csv(api):
    response = api.get(URL, {"format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == ModelArchitecture.objects.count() * QuantizationFormat.objects.count()


def test_it_answers_404_for_an_unknown_device(api):
    assert api.get("/api/v1/devices/no-such-gpu/compatibility/").status_code == 404
    assert api.get("/api/v1/devices/no-such-gpu/compatibility/", {"format": "csv"}).status_code == 404
