"""Cost formulas of docs/estimator.md, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from estimator.core import pipeline
from estimator.core.cost import (
    api_blended_usd_per_mtok, cheapest_api, cheapest_rental, energy_usd_per_mtok, rental_usd_per_mtok,
)
from estimator.tests.core.conftest import BF16, LLAMA_31_8B, TEST_GPU, frame


def test_it_prices_energy_per_million_tokens():
    # 500 W for 1e6 / 100 s = 2.78 h -> 1.389 kWh x $0.12.
    assert energy_usd_per_mtok(500.0, 100.0) == pytest.approx(0.5 * (1e6 / 100 / 3600) * 0.12)
    assert energy_usd_per_mtok(500.0, 100.0, 0.30) == pytest.approx(0.5 * (1e6 / 100 / 3600) * 0.30)


def test_it_prices_rental_per_million_tokens():
    assert rental_usd_per_mtok(2.0, 100.0) == pytest.approx(2.0 / (100 * 3600) * 1e6)


def test_it_blends_api_prices_70_30():
    assert api_blended_usd_per_mtok(1.0, 4.0) == pytest.approx(0.7 * 1.0 + 0.3 * 4.0)


def test_it_reads_offer_prices_as_per_gpu_hour_and_never_divides_them_again():
    # cloud_offers.csv prices are per GPU-hour: an 8x instance at $2.00 is $2.00 per GPU, not $0.25.
    offers = pd.DataFrame({"device_slug": ["a", "a", "b", None], "usd_per_hour": [3.0, 2.0, 1.0, 0.1],
                           "gpu_count": [1, 8, 1, 1], "provider": ["x", "y", "z", "w"],
                           "tier": ["on-demand", "spot", "on-demand", "spot"],
                           "as_of": ["2026-11-09", "2026-09-20", "2026-11-09", "2026-11-09"]})
    best = cheapest_rental(offers).set_index("device_slug")
    assert best["usd_per_hour_per_device"].to_dict() == {"a": 2.0, "b": 1.0}
    assert best.loc["a", ["rental_provider", "rental_tier", "rental_as_of", "rental_gpu_count"]].tolist() == \
        ["y", "spot", "2026-09-20", 8]


def test_it_prices_a_two_gpu_rental_per_million_tokens_by_hand():
    # Two H100s from an 8x offer at $2.00 per GPU-hour decoding 50 tok/s:
    # $4.00/h / (50 tok/s x 3600 s/h) x 1e6 = $22.22 per 1M tokens (not $2.78 as a re-divided $0.25).
    offers = pd.DataFrame({"device_slug": ["h100"], "usd_per_hour": [2.0], "gpu_count": [8]})
    per_device = cheapest_rental(offers)["usd_per_hour_per_device"].iloc[0]
    assert rental_usd_per_mtok(2 * per_device, 50.0) == pytest.approx(22.2222, rel=1e-4)


def test_it_takes_the_cheapest_blended_api_price():
    prices = pd.DataFrame({"model_slug": ["m", "m"], "usd_per_1m_input": [1.0, 0.5], "usd_per_1m_output": [1.0, 3.0],
                           "provider": ["p", "q"]})
    assert cheapest_api(prices)["api_usd_per_mtok"].tolist() == [pytest.approx(1.0)]


def test_it_reports_costs_at_batch_one_and_at_the_largest_batch(unit_priors):
    offers = pd.DataFrame({"device_slug": ["test-gpu"], "usd_per_hour": [2.0], "gpu_count": [1]})
    out = pipeline.compatibility_matrix(frame(LLAMA_31_8B), frame(BF16), frame(TEST_GPU), priors=unit_priors,
                                        cloud_offers=offers, context=4096).iloc[0]
    # A batch-1 decode pass after the 3840-token prompt reads (8e9 - 128256 x 4096) x 2 B of weights
    # = 14,949,326,848, 3841 x 32 x 2 x 8 x 128 x 2 B of KV = 503,447,552 and 128256 x 4 x 2 B of
    # logits = 1,026,048: 15,453,800,448 B at 1 TB/s = 0.015453800448 s per token.
    # 1e6 tokens: 15,453.800448 s = 4.29272234667 h.
    assert out["gen_tok_s_batch1"] == pytest.approx(1 / 0.015453800448, rel=1e-12)
    assert out["energy_usd_per_mtok"] == pytest.approx(0.5 * 4.29272234667 * 0.12, rel=1e-9)   # 500 W, $0.12/kWh
    assert out["rental_usd_per_mtok"] == pytest.approx(2.0 * 4.29272234667, rel=1e-9)          # $2/h
    # At the largest batch the same dollars buy max_batch_tok_s / gen_tok_s_batch1 times the tokens.
    speedup = out["max_batch_tok_s"] / out["gen_tok_s_batch1"]
    assert out["rental_usd_per_mtok_max_batch"] == pytest.approx(2.0 * 4.29272234667 / speedup, rel=1e-9)
    assert out["energy_usd_per_mtok_max_batch"] < out["energy_usd_per_mtok"] / 10


def test_it_leaves_energy_unknown_without_a_tdp(unit_priors):
    out = pipeline.compatibility_matrix(frame(LLAMA_31_8B), frame(BF16), frame(dict(TEST_GPU, tdp_w=None)),
                                        priors=unit_priors).iloc[0]
    assert np.isnan(out["energy_usd_per_mtok"])
