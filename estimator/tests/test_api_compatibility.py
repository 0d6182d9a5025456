"""The compatibility tables' workload: the same translation as an estimate's (offload, energy price)."""

import pytest

from hwfit.tests.api_fixtures import api, unthrottled  # noqa: F401

pytestmark = pytest.mark.django_db

SEVENTY_B = "/api/v1/models/llama-3-1-70b/compatibility/"


def rows_by_device(api, url: str, **query) -> dict[str, dict]:
    response = api.get(url, {"quantization": "q4-k-m", "page_size": 500, **query})
    assert response.status_code == 200
    return {row["device"]["slug"]: row for row in response.json()["results"]}


def test_without_offload_a_model_too_big_for_a_card_needs_more_cards(api):
    # Llama 3.1 70B at Q4_K_M (~43 GB) on a 24 GB RTX 4090: layers go to host RAM unless offload is off.
    default = rows_by_device(api, SEVENTY_B)["nvidia-geforce-rtx-4090"]
    no_offload = rows_by_device(api, SEVENTY_B, offload="false")["nvidia-geforce-rtx-4090"]
    assert (default["verdict"], default["workload"]["device_count"]) == ("offload", 1)
    assert (no_offload["verdict"], no_offload["devices_needed"]) == ("multi_device", 2)
    # A table and an estimate of the same scenario say the same.
    estimate = api.post("/api/v1/estimate/", {"model": "llama-3-1-70b", "quantization": "q4-k-m", "offload": False,
                                              "device": "nvidia-geforce-rtx-4090"}, format="json").json()
    assert (estimate["verdict"], estimate["tokens_per_s"]) == (no_offload["verdict"], no_offload["tokens_per_s"])


def test_it_prices_energy_at_the_requests_rate(api, settings):
    settings.HWFIT_USD_PER_KWH = 0.12
    h100 = rows_by_device(api, SEVENTY_B, usd_per_kwh=0.31)["nvidia-h100-sxm"]
    site = rows_by_device(api, SEVENTY_B)["nvidia-h100-sxm"]
    assert (h100["cost"]["usd_per_kwh"], site["cost"]["usd_per_kwh"]) == (0.31, 0.12)
    # 700 W for the hours a million tokens take at batch 1, at $0.31/kWh.
    hours = 1e6 / h100["speed"]["generation_tokens_per_s_batch1"] / 3600
    assert h100["cost"]["power_w"] == 700.0
    assert h100["cost"]["energy_usd_per_mtok"] == pytest.approx(0.700 * hours * 0.31)


def test_a_device_table_takes_the_same_workload(api):
    url = "/api/v1/devices/nvidia-geforce-rtx-4090/compatibility/"
    rows = {row["model"]["slug"]: row for row in api.get(url, {"quantization": "q4-k-m", "offload": "false",
                                                                "usd_per_kwh": 0.2, "page_size": 500}).json()["results"]}
    assert rows["llama-3-1-70b"]["verdict"] == "multi_device"
    assert {row["cost"]["usd_per_kwh"] for row in rows.values()} == {0.2}
